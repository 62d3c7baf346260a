/* Unit tests for the AML builder: each encoding against bytes derived by hand from ACPI 6.4. */
// SOURCES: vmm/aml.c
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "vmm/aml.h"

#define BIG (2U * 1024U * 1024U)

static uint8_t out[BIG];

/* True when b holds exactly the n bytes of want; prints the first difference otherwise. */
static int same(const struct aml_buf *b, const uint8_t *want, size_t n)
{
	if (b->len != n) {
		fprintf(stderr, "  length %zu, expected %zu\n", b->len, n);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (b->data[i] != want[i]) {
			fprintf(stderr, "  byte %zu: 0x%02x, expected 0x%02x\n", i, b->data[i],
				want[i]);
			return 0;
		}
	}
	return 1;
}

#define CHECK_BYTES(b, ...)                                                                        \
	do {                                                                                       \
		const uint8_t _w[] = {__VA_ARGS__};                                                \
		CHECK(same((b), _w, sizeof(_w)));                                                  \
	} while (0)

/*
 * PkgLength (ACPI 6.4 section 20.2.4): byte 0 bits 7-6 = number of bytes that follow (0-3).
 * With none, bits 5-0 hold the length (0..63). Otherwise bits 3-0 hold its low nibble (bits 5-4
 * are 0) and each following byte the next 8 bits: up to 12, 20 or 28 bits in total.
 */
static void test_pkglen_encode(void)
{
	struct {
		uint32_t v;
		size_t n;
		uint8_t b[4];
	} cases[] = {
	    {0, 1, {0x00}},
	    {63, 1, {0x3F}},			    /* largest one-byte value */
	    {64, 2, {0x40, 0x04}},		    /* 0x040: nibble 0, then 0x04 */
	    {4095, 2, {0x4F, 0xFF}},		    /* 0xFFF: nibble F, then 0xFF */
	    {4096, 3, {0x80, 0x00, 0x01}},	    /* 0x1000: nibble 0, 0x00, 0x01 */
	    {0x1234, 3, {0x84, 0x23, 0x01}},	    /* nibble 4, bits 4-11 0x23, bits 12-19 0x01 */
	    {1048575, 3, {0x8F, 0xFF, 0xFF}},	    /* 0xFFFFF */
	    {1048576, 4, {0xC0, 0x00, 0x00, 0x01}}, /* 0x100000 */
	    {0x0FFFFFFF, 4, {0xCF, 0xFF, 0xFF, 0xFF}}, /* largest encodable */
	};
	uint8_t enc[4];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(enc, 0xEE, sizeof(enc));
		CHECK_EQ(aml_pkglen_encode(enc, cases[i].v), cases[i].n);
		CHECK(memcmp(enc, cases[i].b, cases[i].n) == 0);
	}
	CHECK_EQ(aml_pkglen_encode(enc, 0x10000000), 0);

	/* A body of n bytes needs the PkgLength that can hold n + its own size. */
	CHECK_EQ(aml_pkglen_size(0), 1);
	CHECK_EQ(aml_pkglen_size(62), 1);   /* 63 */
	CHECK_EQ(aml_pkglen_size(63), 2);   /* 64 does not fit one byte; 65 in two */
	CHECK_EQ(aml_pkglen_size(4093), 2); /* 4095 */
	CHECK_EQ(aml_pkglen_size(4094), 3); /* 4097 */
	CHECK_EQ(aml_pkglen_size(1048572), 3);
	CHECK_EQ(aml_pkglen_size(1048573), 4);
	CHECK_EQ(aml_pkglen_size(0x0FFFFFFB), 4);
	CHECK_EQ(aml_pkglen_size(0x0FFFFFFC), 0);
}

/* Scope (\_SB_) { <body_len - 5 filler bytes> }: ScopeOp 0x10, PkgLength, then the body, which
 * starts with the NameString 5C 5F 53 42 5F (5 bytes). Checks the PkgLength bytes. */
static void scope_with_body(size_t body_len, const uint8_t *pkg, size_t pkg_n)
{
	struct aml_buf b;
	size_t mark;

	aml_init(&b, out, sizeof(out));
	mark = aml_scope_begin(&b, "\\_SB_");
	memset(out + b.len, 0xAB, body_len - 5);
	aml_raw(&b, out + b.len, body_len - 5);
	aml_scope_end(&b, mark);
	CHECK_EQ(aml_status(&b), 0);
	CHECK_EQ(b.len, 1 + pkg_n + body_len);
	CHECK_EQ(out[0], 0x10);
	CHECK(memcmp(out + 1, pkg, pkg_n) == 0);
	CHECK(memcmp(out + 1 + pkg_n, "\\_SB_", 5) == 0);
	CHECK_EQ(out[b.len - 1], 0xAB);
}

static void test_pkglen_in_scope(void)
{
	/* PkgLength value = body + its own size. */
	scope_with_body(62, (const uint8_t[]){0x3F}, 1);			/* 63 */
	scope_with_body(63, (const uint8_t[]){0x41, 0x04}, 2);			/* 65 = 0x041 */
	scope_with_body(4093, (const uint8_t[]){0x4F, 0xFF}, 2);		/* 4095 = 0xFFF */
	scope_with_body(4094, (const uint8_t[]){0x81, 0x00, 0x01}, 3);		/* 4097 = 0x1001 */
	scope_with_body(1048572, (const uint8_t[]){0x8F, 0xFF, 0xFF}, 3);	/* 0xFFFFF */
	scope_with_body(1048573, (const uint8_t[]){0xC1, 0x00, 0x00, 0x01}, 4); /* 0x100001 */
}

/*
 * Integers (section 20.2.3): ZeroOp 0x00, OneOp 0x01, then the shortest of BytePrefix 0x0A,
 * WordPrefix 0x0B, DWordPrefix 0x0C, QWordPrefix 0x0E followed by the value, little-endian.
 */
static void test_integers(void)
{
	struct {
		uint64_t v;
		size_t n;
		uint8_t b[9];
	} cases[] = {
	    {0, 1, {0x00}},
	    {1, 1, {0x01}},
	    {2, 2, {0x0A, 0x02}},
	    {0xFF, 2, {0x0A, 0xFF}},
	    {0x100, 3, {0x0B, 0x00, 0x01}},
	    {0xFFFF, 3, {0x0B, 0xFF, 0xFF}},
	    {0x10000, 5, {0x0C, 0x00, 0x00, 0x01, 0x00}},
	    {0xFFFFFFFF, 5, {0x0C, 0xFF, 0xFF, 0xFF, 0xFF}},
	    {0x100000000ULL, 9, {0x0E, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00}},
	    {0x0102030405060708ULL, 9, {0x0E, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01}},
	    {UINT64_MAX, 9, {0x0E, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
	};
	struct aml_buf b;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		aml_init(&b, out, sizeof(out));
		aml_integer(&b, cases[i].v);
		CHECK_EQ(aml_status(&b), 0);
		CHECK(same(&b, cases[i].b, cases[i].n));
	}
}

/* NameSeg (section 20.2.2): 4 bytes, LeadNameChar A-Z or '_', NameChar adds 0-9; ASL pads a
 * shorter name with '_'. NameString: RootChar 0x5C, ParentPrefixChar 0x5E, DualNamePrefix 0x2E,
 * MultiNamePrefix 0x2F + SegCount, NullName 0x00. */
static void test_names(void)
{
	struct aml_buf b;

	aml_init(&b, out, sizeof(out));
	aml_name_seg(&b, "_SB");
	CHECK_BYTES(&b, 0x5F, 0x53, 0x42, 0x5F);
	aml_init(&b, out, sizeof(out));
	aml_name_seg(&b, "A");
	CHECK_BYTES(&b, 0x41, 0x5F, 0x5F, 0x5F);
	aml_init(&b, out, sizeof(out));
	aml_name_seg(&b, "COM1");
	CHECK_BYTES(&b, 'C', 'O', 'M', '1');

	const char *bad[] = {"", "1ABC", "ABCDE", "abc", "A-B", "_SB."};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&b, out, sizeof(out));
		aml_name_seg(&b, bad[i]);
		CHECK_EQ(aml_status(&b), -EINVAL);
		CHECK_EQ(b.len, 0);
	}

	aml_init(&b, out, sizeof(out));
	aml_name_string(&b, "\\_SB_.COM1");
	CHECK_BYTES(&b, 0x5C, 0x2E, '_', 'S', 'B', '_', 'C', 'O', 'M', '1');
	aml_init(&b, out, sizeof(out));
	aml_name_string(&b, "\\");
	CHECK_BYTES(&b, 0x5C, 0x00);
	aml_init(&b, out, sizeof(out));
	aml_name_string(&b, "^^FOO");
	CHECK_BYTES(&b, 0x5E, 0x5E, 'F', 'O', 'O', '_');
	aml_init(&b, out, sizeof(out));
	aml_name_string(&b, "A.B.C");
	CHECK_BYTES(&b, 0x2F, 0x03, 'A', '_', '_', '_', 'B', '_', '_', '_', 'C', '_', '_', '_');
	aml_init(&b, out, sizeof(out));
	aml_name_string(&b, "_HID");
	CHECK_BYTES(&b, '_', 'H', 'I', 'D');

	const char *bad_paths[] = {"A..B", "\\.A", "A.", "\\^A", "ABCDE.F"};
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		aml_init(&b, out, sizeof(out));
		aml_name_string(&b, bad_paths[i]);
		CHECK_EQ(aml_status(&b), -EINVAL);
		CHECK_EQ(b.len, 0);
	}
}

/*
 * EISAID("PNP0501"): letters - 0x40 in five bits: P = 16 = 10000b, N = 14 = 01110b.
 * 0 10000 01110 10000 = 0100 0001 1101 0000 = 0x41 0xD0, then the digits 0x05 0x01.
 * Bytes 41 D0 05 01 read little-endian: 0x0105D041. "PNP0A03": 41 D0 0A 03 = 0x030AD041.
 */
static void test_eisaid(void)
{
	struct aml_buf b;
	uint32_t v = 0;

	CHECK_EQ(aml_eisaid_value("PNP0501", &v), 0);
	CHECK_EQ(v, 0x0105D041);
	CHECK_EQ(aml_eisaid_value("PNP0A03", &v), 0);
	CHECK_EQ(v, 0x030AD041);
	CHECK_EQ(aml_eisaid_value("pnp0501", &v), -EINVAL);
	CHECK_EQ(aml_eisaid_value("PNP050", &v), -EINVAL);
	CHECK_EQ(aml_eisaid_value("PNP05G1", &v), -EINVAL);
	CHECK_EQ(aml_eisaid_value("PNP05011", &v), -EINVAL);

	aml_init(&b, out, sizeof(out));
	aml_eisaid(&b, "PNP0501"); /* always a DWordConst, as iasl emits it */
	CHECK_BYTES(&b, 0x0C, 0x41, 0xD0, 0x05, 0x01);
	aml_init(&b, out, sizeof(out));
	aml_eisaid(&b, "XYZ");
	CHECK_EQ(aml_status(&b), -EINVAL);
}

/* String (section 20.2.3): StringPrefix 0x0D, ASCII 0x01-0x7F, NUL. Buffer (section 20.2.5.4):
 * BufferOp 0x11, PkgLength, BufferSize (an integer), the bytes. */
static void test_string_buffer(void)
{
	struct aml_buf b;

	aml_init(&b, out, sizeof(out));
	aml_string(&b, "LNRO0005");
	CHECK_BYTES(&b, 0x0D, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00);
	aml_init(&b, out, sizeof(out));
	aml_string(&b, "");
	CHECK_BYTES(&b, 0x0D, 0x00);
	aml_init(&b, out, sizeof(out));
	aml_string(&b, "caf\xc3\xa9");
	CHECK_EQ(aml_status(&b), -EINVAL);

	/* PkgLength 6 = itself (1) + BufferSize 0A 03 (2) + 3 bytes. */
	aml_init(&b, out, sizeof(out));
	aml_buffer(&b, (const uint8_t[]){1, 2, 3}, 3);
	CHECK_BYTES(&b, 0x11, 0x06, 0x0A, 0x03, 0x01, 0x02, 0x03);
	/* Empty: PkgLength 2 = itself + ZeroOp. */
	aml_init(&b, out, sizeof(out));
	aml_buffer(&b, NULL, 0);
	CHECK_BYTES(&b, 0x11, 0x02, 0x00);
}

/*
 * Resource descriptors (section 6.4):
 *  IO: small item 0x08, length 7: tag (0x08 << 3) | 7 = 0x47, information (bit 0 Decode16),
 *      _MIN, _MAX (u16 each), _ALN, _LEN.
 *  IRQNoFlags: small item 0x04, length 2: tag 0x22, then the 16-bit IRQ mask; IRQ 4 = 0x0010.
 *  Memory32Fixed: large item 0x86, length 9 (u16), information (bit 0 read/write), base, size.
 *  Extended Interrupt: large item 0x89, length 6 (u16), flags (bit 0 consumer, bit 1 edge,
 *      bit 2 active-low, bit 3 shared), table length 1, the u32 interrupt.
 *  End Tag: small item 0x0F, length 1: 0x79, checksum 0.
 */
static void test_resources(void)
{
	struct aml_buf b;

	aml_init(&b, out, sizeof(out));
	aml_res_io(&b, 0x3F8, 0x3F8, 1, 8);
	CHECK_BYTES(&b, 0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08);
	aml_init(&b, out, sizeof(out));
	aml_res_irq_noflags(&b, 4);
	CHECK_BYTES(&b, 0x22, 0x10, 0x00);
	aml_init(&b, out, sizeof(out));
	aml_res_irq_noflags(&b, 15);
	CHECK_BYTES(&b, 0x22, 0x00, 0x80);
	aml_init(&b, out, sizeof(out));
	aml_res_irq_noflags(&b, 16);
	CHECK_EQ(aml_status(&b), -EINVAL);
	aml_init(&b, out, sizeof(out));
	aml_res_memory32_fixed(&b, true, 0xD0000000, 0x1000);
	CHECK_BYTES(&b, 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xD0, 0x00, 0x10, 0x00, 0x00);
	aml_init(&b, out, sizeof(out));
	aml_res_memory32_fixed(&b, false, 0x12345678, 0x9ABCDEF0);
	CHECK_BYTES(&b, 0x86, 0x09, 0x00, 0x00, 0x78, 0x56, 0x34, 0x12, 0xF0, 0xDE, 0xBC, 0x9A);
	aml_init(&b, out, sizeof(out));
	aml_res_ext_irq(&b, AML_IRQ_CONSUMER | AML_IRQ_EDGE, 5);
	CHECK_BYTES(&b, 0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00);
	aml_init(&b, out, sizeof(out));
	aml_res_ext_irq(&b, AML_IRQ_ACTIVE_LOW | AML_IRQ_SHARED, 0x123);
	CHECK_BYTES(&b, 0x89, 0x06, 0x00, 0x0C, 0x01, 0x23, 0x01, 0x00, 0x00);

	/* ResourceTemplate () {}: just the End Tag; PkgLength 5 = 1 + BufferSize 0A 02 + 2. */
	aml_init(&b, out, sizeof(out));
	aml_restemplate_end(&b, aml_restemplate_begin(&b));
	CHECK_BYTES(&b, 0x11, 0x05, 0x0A, 0x02, 0x79, 0x00);
}

/*
 * Device (COM1) { Name (_HID, EisaId ("PNP0501")) Name (_UID, Zero)
 *                 Name (_CRS, ResourceTemplate () { IO (Decode16, 0x3F8, 0x3F8, 1, 8)
 *                                                    IRQNoFlags () {4} }) }
 * _CRS template: IO 8 + IRQ 3 + End 2 = 13 (0x0D) bytes; Buffer PkgLength = 1 + 2 + 13 = 16.
 * Device body: "COM1" 4 + _HID 10 + _UID 6 + "Name _CRS" 5 + Buffer 17 = 42; PkgLength 43.
 */
static const uint8_t com1[] = {
    0x5B, 0x82, 0x2B, 'C',  'O',  'M',	'1',			/* Device (COM1), PkgLength 43 */
    0x08, '_',	'H',  'I',  'D',  0x0C, 0x41, 0xD0, 0x05, 0x01, /* Name (_HID, 0x0105D041) */
    0x08, '_',	'U',  'I',  'D',  0x00,				/* Name (_UID, Zero) */
    0x08, '_',	'C',  'R',  'S',  0x11, 0x10, 0x0A, 0x0D,	/* Name (_CRS, Buffer (13) */
    0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08,		/* IO */
    0x22, 0x10, 0x00,						/* IRQNoFlags {4} */
    0x79, 0x00,							/* End Tag */
};

static void emit_com1(struct aml_buf *b)
{
	size_t dev = aml_device_begin(b, "COM1"), crs;

	aml_name_decl(b, "_HID");
	aml_eisaid(b, "PNP0501");
	aml_name_decl(b, "_UID");
	aml_integer(b, 0);
	aml_name_decl(b, "_CRS");
	crs = aml_restemplate_begin(b);
	aml_res_io(b, 0x3F8, 0x3F8, 1, 8);
	aml_res_irq_noflags(b, 4);
	aml_restemplate_end(b, crs);
	aml_device_end(b, dev);
}

static void test_device(void)
{
	struct aml_buf b;
	size_t sb;

	aml_init(&b, out, sizeof(out));
	emit_com1(&b);
	CHECK_EQ(aml_status(&b), 0);
	CHECK(same(&b, com1, sizeof(com1)));

	/* Scope (\_SB_) { the device }: body 5 + 45 = 50, PkgLength 51 (0x33). */
	aml_init(&b, out, sizeof(out));
	sb = aml_scope_begin(&b, "\\_SB_");
	emit_com1(&b);
	aml_scope_end(&b, sb);
	CHECK_EQ(aml_status(&b), 0);
	CHECK_EQ(b.len, 2 + 5 + sizeof(com1));
	CHECK(out[0] == 0x10 && out[1] == 0x33 && memcmp(out + 2, "\\_SB_", 5) == 0);
	CHECK(memcmp(out + 7, com1, sizeof(com1)) == 0);
}

/*
 * Device (V000) { Name (_HID, "LNRO0005") Name (_UID, Zero)
 *   Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, 0xD0000000, 0x1000)
 *     Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {5} }) }
 * Template 12 + 9 + 2 = 23 (0x17); Buffer PkgLength 1 + 2 + 23 = 26 (0x1A), 27 bytes in all.
 * Device body 4 + 15 + 6 + 5 + 27 = 57; PkgLength 58 (0x3A).
 */
static void test_virtio_device(void)
{
	static const uint8_t want[] = {
	    0x5B, 0x82, 0x3A, 'V',  '0',  '0',	'0',  0x08, '_',  'H',	'I',  'D',
	    0x0D, 'L',	'N',  'R',  'O',  '0',	'0',  '0',  '5',  0x00, 0x08, '_',
	    'U',  'I',	'D',  0x00, 0x08, '_',	'C',  'R',  'S',  0x11, 0x1A, 0x0A,
	    0x17, 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xD0, 0x00, 0x10, 0x00,
	    0x00, 0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00, 0x79, 0x00,
	};
	struct aml_buf b;
	size_t dev, crs;

	aml_init(&b, out, sizeof(out));
	dev = aml_device_begin(&b, "V000");
	aml_name_decl(&b, "_HID");
	aml_string(&b, "LNRO0005");
	aml_name_decl(&b, "_UID");
	aml_integer(&b, 0);
	aml_name_decl(&b, "_CRS");
	crs = aml_restemplate_begin(&b);
	aml_res_memory32_fixed(&b, true, 0xD0000000, 0x1000);
	aml_res_ext_irq(&b, AML_IRQ_CONSUMER | AML_IRQ_EDGE, 5);
	aml_restemplate_end(&b, crs);
	aml_device_end(&b, dev);
	CHECK_EQ(aml_status(&b), 0);
	CHECK(same(&b, want, sizeof(want)));
}

/* Every capacity short of the full size reports -ENOSPC and writes nothing past the end
 * (each buffer is an exact-size heap block, so ASan sees any overrun). */
static void test_overflow(void)
{
	for (size_t cap = 0; cap <= sizeof(com1); cap++) {
		uint8_t *p = malloc(cap ? cap : 1);
		struct aml_buf b;

		aml_init(&b, p, cap);
		emit_com1(&b);
		if (cap < sizeof(com1)) {
			CHECK_EQ(aml_status(&b), -ENOSPC);
			CHECK(b.len <= cap);
		} else {
			CHECK_EQ(aml_status(&b), 0);
			CHECK(same(&b, com1, sizeof(com1)));
		}
		free(p);
	}
}

static void test_invalid(void)
{
	struct aml_buf b;
	size_t dev;

	aml_init(&b, out, sizeof(out));
	dev = aml_device_begin(&b, "bad!");
	aml_device_end(&b, dev);
	CHECK_EQ(aml_status(&b), -EINVAL);

	aml_init(&b, out, sizeof(out));
	aml_byte(&b, 0);
	aml_device_end(&b, 5); /* a mark past the end */
	CHECK_EQ(aml_status(&b), -EINVAL);
	CHECK_EQ(b.len, 1);
}

int main(void)
{
	RUN(test_pkglen_encode);
	RUN(test_pkglen_in_scope);
	RUN(test_integers);
	RUN(test_names);
	RUN(test_eisaid);
	RUN(test_string_buffer);
	RUN(test_resources);
	RUN(test_device);
	RUN(test_virtio_device);
	RUN(test_overflow);
	RUN(test_invalid);
	return unit_summary("test_aml");
}
