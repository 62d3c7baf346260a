/* AML builder: bounded byte-code emission for the DSDT (ACPI 6.4 chapters 6.4 and 20). */
#include "aml.h"

#include <errno.h>
#include <string.h>

/* Opcodes and prefixes (ACPI 6.4 section 20.3). */
enum {
	AML_ZERO_OP = 0x00,
	AML_ONE_OP = 0x01,
	AML_NAME_OP = 0x08,
	AML_BYTE_PREFIX = 0x0A,
	AML_WORD_PREFIX = 0x0B,
	AML_DWORD_PREFIX = 0x0C,
	AML_STRING_PREFIX = 0x0D,
	AML_QWORD_PREFIX = 0x0E,
	AML_SCOPE_OP = 0x10,
	AML_BUFFER_OP = 0x11,
	AML_PACKAGE_OP = 0x12,
	AML_DUAL_NAME_PREFIX = 0x2E,
	AML_MULTI_NAME_PREFIX = 0x2F,
	AML_EXT_OP_PREFIX = 0x5B,
	AML_DEVICE_OP = 0x82, /* after AML_EXT_OP_PREFIX */
	AML_ROOT_CHAR = 0x5C,
	AML_PARENT_PREFIX_CHAR = 0x5E,
	AML_NULL_NAME = 0x00,
};

/* Resource descriptor tags (ACPI 6.4 section 6.4). */
enum {
	RES_IRQ_NOFLAGS = 0x22,	   /* small item 0x04, length 2 */
	RES_IO = 0x47,		   /* small item 0x08, length 7 */
	RES_END_TAG = 0x79,	   /* small item 0x0F, length 1 */
	RES_MEMORY32_FIXED = 0x86, /* large item 0x06 */
	RES_EXT_IRQ = 0x89,	   /* large item 0x09 */
};

#define PKGLEN_MAX 0x0FFFFFFFU

void aml_init(struct aml_buf *b, void *data, size_t cap)
{
	b->data = data;
	b->cap = cap;
	b->len = 0;
	b->overflow = false;
	b->invalid = false;
}

int aml_status(const struct aml_buf *b)
{
	if (b->overflow)
		return -ENOSPC;
	return b->invalid ? -EINVAL : 0;
}

void aml_raw(struct aml_buf *b, const void *p, size_t n)
{
	if (b->overflow)
		return;
	if (n > b->cap - b->len) {
		b->overflow = true;
		return;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

void aml_byte(struct aml_buf *b, uint8_t v)
{
	aml_raw(b, &v, 1);
}

/* Insert n bytes at offset at, moving what follows. */
static void insert(struct aml_buf *b, size_t at, const uint8_t *p, size_t n)
{
	if (b->overflow)
		return;
	if (at > b->len) {
		b->invalid = true;
		return;
	}
	if (n > b->cap - b->len) {
		b->overflow = true;
		return;
	}
	memmove(b->data + at + n, b->data + at, b->len - at);
	memcpy(b->data + at, p, n);
	b->len += n;
}

static void put_le(uint8_t *out, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

size_t aml_pkglen_encode(uint8_t out[4], uint32_t pkglen)
{
	size_t follow;

	if (pkglen > PKGLEN_MAX)
		return 0;
	if (pkglen <= 0x3F) {
		out[0] = (uint8_t)pkglen; /* bits 7-6 = 0: one byte, bits 5-0 = length */
		return 1;
	}
	follow = pkglen <= 0xFFF ? 1 : pkglen <= 0xFFFFF ? 2 : 3;
	/* bits 7-6: count of following bytes; bits 3-0: the low nibble; then 8 bits each. */
	out[0] = (uint8_t)((follow << 6) | (pkglen & 0x0F));
	for (size_t i = 0; i < follow; i++)
		out[1 + i] = (uint8_t)(pkglen >> (4 + 8 * i));
	return follow + 1;
}

size_t aml_pkglen_size(size_t body_len)
{
	if (body_len + 1 <= 0x3F)
		return 1;
	if (body_len + 2 <= 0xFFF)
		return 2;
	if (body_len + 3 <= 0xFFFFF)
		return 3;
	if (body_len <= PKGLEN_MAX - 4)
		return 4;
	return 0;
}

size_t aml_int_encode(uint8_t out[9], uint64_t v)
{
	size_t n;

	if (v <= 1) {
		out[0] = v ? AML_ONE_OP : AML_ZERO_OP;
		return 1;
	}
	if (v <= 0xFF) {
		out[0] = AML_BYTE_PREFIX;
		n = 1;
	} else if (v <= 0xFFFF) {
		out[0] = AML_WORD_PREFIX;
		n = 2;
	} else if (v <= 0xFFFFFFFF) {
		out[0] = AML_DWORD_PREFIX;
		n = 4;
	} else {
		out[0] = AML_QWORD_PREFIX;
		n = 8;
	}
	put_le(out + 1, v, n);
	return n + 1;
}

void aml_integer(struct aml_buf *b, uint64_t v)
{
	uint8_t enc[9];

	aml_raw(b, enc, aml_int_encode(enc, v));
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int aml_eisaid_value(const char *id, uint32_t *out)
{
	uint32_t l[3], h[4];

	if (!id || strlen(id) != 7)
		return -EINVAL;
	for (int i = 0; i < 3; i++) {
		if (!is_upper(id[i]))
			return -EINVAL;
		l[i] = (uint32_t)(id[i] - 0x40); /* 'A' = 1 .. 'Z' = 26: five bits */
	}
	for (int i = 0; i < 4; i++) {
		int d = hex_digit(id[3 + i]);

		if (d < 0)
			return -EINVAL;
		h[i] = (uint32_t)d;
	}
	/* Byte 0: 0 l1 l1 l1 l1 l1 l2 l2; byte 1: l2 l2 l2 l3 l3 l3 l3 l3; bytes 2-3: the hex
	 * digits in order. The DWord is those four bytes read little-endian. */
	*out = ((l[0] << 2) | (l[1] >> 3)) | ((((l[1] & 7) << 5) | l[2]) << 8) |
	       (((h[0] << 4) | h[1]) << 16) | (((h[2] << 4) | h[3]) << 24);
	return 0;
}

void aml_eisaid(struct aml_buf *b, const char *id)
{
	uint8_t enc[5] = {AML_DWORD_PREFIX};
	uint32_t v;

	if (aml_eisaid_value(id, &v) < 0) {
		b->invalid = true;
		return;
	}
	put_le(enc + 1, v, 4);
	aml_raw(b, enc, sizeof(enc));
}

void aml_string(struct aml_buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] > 0x7F) {
			b->invalid = true;
			return;
		}
	}
	aml_byte(b, AML_STRING_PREFIX);
	aml_raw(b, s, n);
	aml_byte(b, 0);
}

/* A NameSeg of n (1-4) characters at s: LeadNameChar then NameChars. */
static bool seg_valid(const char *s, size_t n)
{
	if (n < 1 || n > 4 || !(is_upper(s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++) {
		if (!(is_upper(s[i]) || s[i] == '_' || (s[i] >= '0' && s[i] <= '9')))
			return false;
	}
	return true;
}

static void seg_emit(struct aml_buf *b, const char *s, size_t n)
{
	char seg[4] = {'_', '_', '_', '_'};

	memcpy(seg, s, n);
	aml_raw(b, seg, 4);
}

void aml_name_seg(struct aml_buf *b, const char *seg)
{
	size_t n = seg ? strlen(seg) : 0;

	if (!seg_valid(seg, n)) {
		b->invalid = true;
		return;
	}
	seg_emit(b, seg, n);
}

/* Count the '.'-separated NameSegs of s, or return -1 if any is invalid. */
static int count_segs(const char *s)
{
	int count = 0;

	if (!*s)
		return 0;
	for (;;) {
		size_t n = strcspn(s, ".");

		if (!seg_valid(s, n) || ++count > 255)
			return -1;
		if (!s[n])
			return count;
		s += n + 1;
	}
}

void aml_name_string(struct aml_buf *b, const char *path)
{
	const char *s = path;
	int segs;

	if (!s) {
		b->invalid = true;
		return;
	}
	if (*s == '\\')
		s++;
	else
		while (*s == '^')
			s++;
	segs = count_segs(s);
	if (segs < 0) {
		b->invalid = true;
		return;
	}
	aml_raw(b, path, (size_t)(s - path)); /* RootChar or ParentPrefixChars, as written */
	if (segs == 0)
		aml_byte(b, AML_NULL_NAME);
	else if (segs == 2)
		aml_byte(b, AML_DUAL_NAME_PREFIX);
	else if (segs > 2) {
		aml_byte(b, AML_MULTI_NAME_PREFIX);
		aml_byte(b, (uint8_t)segs);
	}
	for (int i = 0; i < segs; i++) {
		size_t n = strcspn(s, ".");

		seg_emit(b, s, n);
		s += n + 1;
	}
}

void aml_name_decl(struct aml_buf *b, const char *name)
{
	aml_byte(b, AML_NAME_OP);
	aml_name_string(b, name);
}

/* Insert the PkgLength for everything from mark to the end, at mark. */
static void pkg_close(struct aml_buf *b, size_t mark, const uint8_t *extra, size_t n_extra)
{
	uint8_t hdr[4 + 9];
	size_t body, n;

	if (b->overflow || b->invalid)
		return;
	if (mark > b->len) {
		b->invalid = true;
		return;
	}
	body = b->len - mark + n_extra;
	n = aml_pkglen_size(body);
	if (!n) {
		b->overflow = true;
		return;
	}
	aml_pkglen_encode(hdr, (uint32_t)(body + n));
	if (n_extra)
		memcpy(hdr + n, extra, n_extra);
	insert(b, mark, hdr, n + n_extra);
}

size_t aml_scope_begin(struct aml_buf *b, const char *path)
{
	size_t mark;

	aml_byte(b, AML_SCOPE_OP);
	mark = b->len;
	aml_name_string(b, path);
	return mark;
}

void aml_scope_end(struct aml_buf *b, size_t mark)
{
	pkg_close(b, mark, NULL, 0);
}

size_t aml_device_begin(struct aml_buf *b, const char *path)
{
	size_t mark;

	aml_byte(b, AML_EXT_OP_PREFIX);
	aml_byte(b, AML_DEVICE_OP);
	mark = b->len;
	aml_name_string(b, path);
	return mark;
}

void aml_device_end(struct aml_buf *b, size_t mark)
{
	pkg_close(b, mark, NULL, 0);
}

size_t aml_package_begin(struct aml_buf *b, uint8_t n_elements)
{
	size_t mark;

	aml_byte(b, AML_PACKAGE_OP);
	mark = b->len;
	aml_byte(b, n_elements);
	return mark;
}

void aml_package_end(struct aml_buf *b, size_t mark)
{
	pkg_close(b, mark, NULL, 0);
}

/* Close a Buffer: DefBuffer := BufferOp PkgLength BufferSize ByteList. */
static void buffer_close(struct aml_buf *b, size_t mark)
{
	uint8_t size[9];

	if (b->overflow || b->invalid)
		return;
	if (mark > b->len) {
		b->invalid = true;
		return;
	}
	pkg_close(b, mark, size, aml_int_encode(size, b->len - mark));
}

void aml_buffer(struct aml_buf *b, const void *p, size_t n)
{
	size_t mark;

	aml_byte(b, AML_BUFFER_OP);
	mark = b->len;
	aml_raw(b, p, n);
	buffer_close(b, mark);
}

size_t aml_restemplate_begin(struct aml_buf *b)
{
	aml_byte(b, AML_BUFFER_OP);
	return b->len;
}

void aml_restemplate_end(struct aml_buf *b, size_t mark)
{
	/* End Tag; checksum 0 means "the template is treated as checksummed". */
	const uint8_t end[2] = {RES_END_TAG, 0};

	aml_raw(b, end, sizeof(end));
	buffer_close(b, mark);
}

void aml_res_io(struct aml_buf *b, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	/* Byte 1 bit 0: the device decodes 16 address bits. */
	const uint8_t d[8] = {
	    RES_IO, 0x01, (uint8_t)min, (uint8_t)(min >> 8), (uint8_t)max, (uint8_t)(max >> 8),
	    align,  len};

	aml_raw(b, d, sizeof(d));
}

void aml_res_irq_noflags(struct aml_buf *b, unsigned irq)
{
	uint16_t mask;

	if (irq > 15) {
		b->invalid = true;
		return;
	}
	mask = (uint16_t)(1U << irq);
	aml_byte(b, RES_IRQ_NOFLAGS);
	aml_byte(b, (uint8_t)mask);
	aml_byte(b, (uint8_t)(mask >> 8));
}

void aml_res_memory32_fixed(struct aml_buf *b, bool read_write, uint32_t base, uint32_t len)
{
	/* Tag, length 9 (u16), information (bit 0: read/write), base (u32), length (u32). */
	uint8_t d[12] = {RES_MEMORY32_FIXED, 9, 0, read_write ? 1 : 0};

	put_le(d + 4, base, 4);
	put_le(d + 8, len, 4);
	aml_raw(b, d, sizeof(d));
}

void aml_res_ext_irq(struct aml_buf *b, uint8_t flags, uint32_t gsi)
{
	/* Tag, length 6 (u16), flags, table length 1, one u32 interrupt number. */
	uint8_t d[9] = {RES_EXT_IRQ, 6, 0, flags, 1};

	put_le(d + 5, gsi, 4);
	aml_raw(b, d, sizeof(d));
}
