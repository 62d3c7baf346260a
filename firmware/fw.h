/* The firmware runtime: port and MMIO access, serial output, strings, command line, exit. */
#ifndef FW_FW_H
#define FW_FW_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pvh.h"

/* Fixed I/O assignments (the same values as vmm/layout.h). */
#define FW_COM1_PORT	 0x3F8U
#define FW_EXIT_PORT	 0xF4U
#define FW_I8042_COMMAND 0x64U
#define FW_I8042_RESET	 0xFEU

/* Exit status when hvm_start_info is unusable (bad magic, no command line is fine). */
#define FW_STATUS_BAD_START_INFO 62U

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Compiler barrier; x86 keeps loads ordered with loads and stores with stores (TSO). */
#define barrier() __asm__ __volatile__("" ::: "memory")
#define rmb()	  barrier()
#define wmb()	  barrier()
/* Full barrier (store-load ordering), as Linux does it on x86-64: a locked add to the top of
 * the stack, which is cheaper than mfence on most CPUs. */
static inline void mb(void)
{
	__asm__ __volatile__("lock; addl $0,(%%rsp)" ::: "memory", "cc");
}

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ __volatile__("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

static inline uint8_t mmio_read8(uintptr_t addr)
{
	uint8_t v = *(volatile uint8_t *)addr;
	barrier();
	return v;
}

static inline uint16_t mmio_read16(uintptr_t addr)
{
	uint16_t v = *(volatile uint16_t *)addr;
	barrier();
	return v;
}

static inline uint32_t mmio_read32(uintptr_t addr)
{
	uint32_t v = *(volatile uint32_t *)addr;
	barrier();
	return v;
}

static inline void mmio_write32(uintptr_t addr, uint32_t v)
{
	barrier();
	*(volatile uint32_t *)addr = v;
	barrier();
}

#define READ_ONCE16(x)	   (*(const volatile uint16_t *)&(x))
#define WRITE_ONCE16(x, v) (*(volatile uint16_t *)&(x) = (v))

/* Freestanding string functions (gcc may also emit calls to the first three). They use x86
 * string instructions: one emulated instruction instead of a loop of them. */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
/* How many leading bytes of p[0..n) equal c. */
size_t mem_span(const void *p, int c, size_t n);
/* Index of the first byte equal to c in p[0..n), or n. */
size_t mem_find(const void *p, int c, size_t n);

/* Serial console (COM1 THR, no LSR polling). */
void fw_putc(char c);
void fw_write(const char *s, size_t n);
void fw_puts(const char *s); /* no newline added */
/* printf subset: %[0][width][l|ll|z](d|u|x|X|c|s|p|%) and %.*s (length-limited string). */
void fw_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fw_vprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* Like snprintf: always NUL-terminates when size > 0; returns the untruncated length. */
int fw_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int fw_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Ends the VM: writes status to the exit port (the launcher exits with it), then halts. */
_Noreturn void fw_exit(unsigned status);
/* Pulses the i8042 reset line (the launcher stops the VM with status 0), then halts. */
_Noreturn void fw_reset(void);
_Noreturn void fw_halt(void);

/* The boot information, valid once main() runs. */
extern const struct hvm_start_info *fw_start_info;
const char *fw_cmdline(void); /* never NULL */

/* Command line: whitespace-separated tokens (double quotes group, as in Linux). */
struct fw_token {
	const char *s;
	size_t len;
};
#define FW_CMDLINE_MAX_TOKENS 256 /* tokens beyond these are ignored */
/* Next token starting at *pos (advanced); false at the end. */
bool cmdline_next(const char **pos, struct fw_token *tok);
/* All tokens of the command line, in order (split once, on first use). */
const struct fw_token *cmdline_tokens(unsigned *n);
/* If tok is "key=value", point *val at value and return true. */
bool token_value(const struct fw_token *tok, const char *key, struct fw_token *val);
/* Value of the last "key=" token; false if absent. */
bool cmdline_get(const char *key, struct fw_token *val);
/* Unsigned number as kstrtoull(base 0) reads it: 0x hex, leading 0 octal, else decimal.
 * Consumes the longest valid prefix of t; *used (if given) says how much. False if none or
 * on overflow. */
bool parse_u64(const char *s, size_t len, uint64_t *out, size_t *used);
/* parse_u64 over a whole token (trailing garbage is an error). */
bool token_u64(const struct fw_token *t, uint64_t *out);
/* Last "key=N" as a number; def if absent; *bad set when present but malformed. */
uint64_t cmdline_u64(const char *key, uint64_t def, bool *bad);
bool token_eq(const struct fw_token *t, const char *s);

/* Each program provides main; its return value is the exit status. */
int main(void);

#endif
