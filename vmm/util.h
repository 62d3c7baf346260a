/* Small helpers the launcher and the devices share: table checksums, hex digits, the clock. */
#ifndef MICROVM_UTIL_H
#define MICROVM_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The byte that makes the n bytes at p sum to 0 (mod 256): ACPI and MP table checksums, with
 * the checksum field itself still 0 when this is computed. */
static inline uint8_t byte_checksum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + b[i]);
	return (uint8_t)(0 - sum);
}

/* The value of hex digit c (0-9, a-f, A-F), or -1. */
static inline int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* CLOCK_MONOTONIC in nanoseconds (the vDSO: no system call on x86_64). */
static inline uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#endif
