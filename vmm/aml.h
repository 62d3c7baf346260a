/* A small ACPI Machine Language (AML) builder: names, integers, strings, scopes, devices, _CRS. */
#ifndef MICROVM_AML_H
#define MICROVM_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Output buffer. Every builder appends to it and never writes past data + cap: a write that
 * does not fit sets overflow and is dropped (the contents are then unusable). An argument that
 * cannot be encoded (a bad NameSeg, a non-ASCII string, a malformed EISA ID, an out-of-range
 * IRQ) sets invalid and emits nothing. Check aml_status() once after building.
 */
struct aml_buf {
	uint8_t *data;
	size_t cap;
	size_t len;
	bool overflow;
	bool invalid;
};

/* Start an empty buffer over cap bytes at data. */
void aml_init(struct aml_buf *b, void *data, size_t cap);

/* 0 when everything fit and encoded, -ENOSPC on overflow, else -EINVAL. */
int aml_status(const struct aml_buf *b);

/* Append raw bytes. */
void aml_byte(struct aml_buf *b, uint8_t v);
void aml_raw(struct aml_buf *b, const void *p, size_t n);

/*
 * Pure encoders. aml_pkglen_encode writes the PkgLength encoding of pkglen (a value that
 * already counts the PkgLength bytes themselves) into out and returns its size, 1..4, or 0 when
 * pkglen > 0x0FFFFFFF. aml_pkglen_size returns the PkgLength size needed in front of a body of
 * body_len bytes (0 if too large). aml_int_encode writes the shortest ComputationalData for v
 * (ZeroOp, OneOp, BytePrefix, WordPrefix, DWordPrefix or QWordPrefix) and returns its size.
 */
size_t aml_pkglen_encode(uint8_t out[4], uint32_t pkglen);
size_t aml_pkglen_size(size_t body_len);
size_t aml_int_encode(uint8_t out[9], uint64_t v);

/* The 32-bit value of a compressed EISA ID "AAA####" (three letters A-Z, four hex digits), as
 * ASL's EISAID() computes it; EISAID("PNP0501") == 0x0105D041. Returns 0 or -EINVAL. */
int aml_eisaid_value(const char *id, uint32_t *out);

/* NameSeg: 1-4 characters, the first A-Z or '_', the rest A-Z, 0-9 or '_'; padded with '_'. */
void aml_name_seg(struct aml_buf *b, const char *seg);

/* NameString: optional '\' (root) or '^'s (parent), then NameSegs separated by '.'
 * ("\\_SB_.COM1", "_HID", "\\"); uses DualNamePrefix/MultiNamePrefix as needed. */
void aml_name_string(struct aml_buf *b, const char *path);

/* Data objects. */
void aml_integer(struct aml_buf *b, uint64_t v);
void aml_string(struct aml_buf *b, const char *s);  /* StringPrefix, ASCII 0x01-0x7F, NUL */
void aml_eisaid(struct aml_buf *b, const char *id); /* DWordPrefix + aml_eisaid_value */
void aml_buffer(struct aml_buf *b, const void *p, size_t n); /* Buffer (n) {bytes} */

/* Name (name, <data object>): emits NameOp and the NameString; the caller appends the object. */
void aml_name_decl(struct aml_buf *b, const char *name);

/*
 * Blocks with a PkgLength. *_begin emits the opcode and returns a mark; the caller appends the
 * contents; *_end(b, mark) inserts the (shortest) PkgLength at the mark. Blocks nest.
 */
size_t aml_scope_begin(struct aml_buf *b, const char *path); /* Scope (path) { ... } */
void aml_scope_end(struct aml_buf *b, size_t mark);
size_t aml_device_begin(struct aml_buf *b, const char *path); /* Device (path) { ... } */
void aml_device_end(struct aml_buf *b, size_t mark);

/* Package (n_elements) { ... }: the caller appends exactly n_elements data objects. */
size_t aml_package_begin(struct aml_buf *b, uint8_t n_elements);
void aml_package_end(struct aml_buf *b, size_t mark);

/* ResourceTemplate () { descriptors }: a Buffer whose last descriptor is the End Tag, which
 * aml_restemplate_end appends (checksum byte 0) before filling in BufferSize and PkgLength. */
size_t aml_restemplate_begin(struct aml_buf *b);
void aml_restemplate_end(struct aml_buf *b, size_t mark);

/* Resource descriptors (ACPI 6.4 section 6.4), for use inside a resource template. */
/* IO (Decode16, min, max, align, len) */
void aml_res_io(struct aml_buf *b, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
/* IRQNoFlags () {irq}: ISA IRQ 0-15, edge-triggered, active-high, exclusive */
void aml_res_irq_noflags(struct aml_buf *b, unsigned irq);
/* Memory32Fixed (ReadWrite or ReadOnly, base, len) */
void aml_res_memory32_fixed(struct aml_buf *b, bool read_write, uint32_t base, uint32_t len);

/* Extended Interrupt Descriptor flags (byte 3 of the descriptor). */
#define AML_IRQ_CONSUMER   0x01U /* 0: ResourceProducer */
#define AML_IRQ_EDGE	   0x02U /* 0: Level */
#define AML_IRQ_ACTIVE_LOW 0x04U /* 0: ActiveHigh */
#define AML_IRQ_SHARED	   0x08U /* 0: Exclusive */
#define AML_IRQ_WAKE	   0x10U /* 0: not wake capable */

/* Interrupt (flags) {gsi}: one interrupt number, no resource source. */
void aml_res_ext_irq(struct aml_buf *b, uint8_t flags, uint32_t gsi);

#endif
