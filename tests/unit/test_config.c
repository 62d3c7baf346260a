/* Unit tests for the config parser: strict JSON, the schema, messages, limits, files. */
// SOURCES: vmm/config.c vmm/json.c vmm/errors.c
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"
#include "vmm/config.h"
#include "vmm/json.h"

static struct vm_config cfg;
static struct errbuf err;

/* One drive with the required keys, for tests about other keys. */
#define DRIVE(extra)                                                                               \
	"{\"drives\":[{\"drive_id\":\"d\",\"path_on_host\":\"p\",\"is_root_device\":false" extra   \
	"}]}"

static bool is_zeroed(const struct vm_config *c)
{
	static const struct vm_config zero;

	return memcmp(c, &zero, sizeof(zero)) == 0;
}

static int parse_n(const char *text, size_t len)
{
	memset(&err, 0, sizeof(err));
	return config_parse("t.json", text, len, &cfg, &err);
}

/* text must parse; cfg is left filled for the caller, who calls config_free. */
static int good_at(int line, const char *text, size_t len)
{
	int rc = parse_n(text, len);

	unit_checks++;
	if (rc != 0) {
		unit_failures++;
		fprintf(stderr, "%s:%d: %s: rc %d, error: %s\n", __FILE__, line, unit_current, rc,
			err.msg);
	}
	return rc;
}

/* text must fail with -EINVAL and exactly the message want, leaving cfg zeroed. */
static void bad_at(int line, const char *text, size_t len, const char *want)
{
	int rc = parse_n(text, len);

	unit_checks += 3;
	if (rc != -EINVAL) {
		unit_failures++;
		fprintf(stderr, "%s:%d: %s: rc %d, expected -EINVAL\n", __FILE__, line,
			unit_current, rc);
	}
	if (strcmp(err.msg, want) != 0) {
		unit_failures++;
		fprintf(stderr, "%s:%d: %s: message\n  got:  %s\n  want: %s\n", __FILE__, line,
			unit_current, err.msg, want);
	}
	if (!is_zeroed(&cfg)) {
		unit_failures++;
		fprintf(stderr, "%s:%d: %s: cfg not zeroed after an error\n", __FILE__, line,
			unit_current);
	}
	config_free(&cfg);
}

#define GOOD(text)	good_at(__LINE__, text, sizeof(text) - 1)
#define BAD(text, want) bad_at(__LINE__, text, sizeof(text) - 1, want)

static void test_full_config(void)
{
	static const char text[] =
	    "{\n"
	    "  \"boot-source\": {\n"
	    "    \"kernel_image_path\": \"/srv/vmlinux\",\n"
	    "    \"boot_args\": \"console=ttyS0 reboot=k panic=1\",\n"
	    "    \"initrd_path\": \"/srv/initrd.img\"\n"
	    "  },\n"
	    "  \"machine-config\": {\n"
	    "    \"vcpu_count\": 2, \"mem_size_mib\": 1024, \"smt\": true,\n"
	    "    \"track_dirty_pages\": false, \"huge_pages\": \"None\",\n"
	    "    \"cpu_template\": \"None\"\n"
	    "  },\n"
	    "  \"drives\": [\n"
	    "    {\"drive_id\": \"rootfs\", \"path_on_host\": \"/srv/rootfs.ext4\",\n"
	    "     \"is_root_device\": true, \"is_read_only\": true,\n"
	    "     \"partuuid\": \"0eaa91a0-01\", \"cache_type\": \"Writeback\",\n"
	    "     \"io_engine\": \"Sync\", \"rate_limiter\": null, \"socket\": null},\n"
	    "    {\"drive_id\": \"Scratch_2-x\", \"path_on_host\": \"scratch.img\",\n"
	    "     \"is_root_device\": false}\n"
	    "  ],\n"
	    "  \"network-interfaces\": [], \"balloon\": null, \"vsock\": null,\n"
	    "  \"logger\": null, \"metrics\": null, \"mmds-config\": null,\n"
	    "  \"entropy\": null, \"cpu-config\": null\n"
	    "}\n";

	if (GOOD(text))
		return;
	CHECK(!strcmp(cfg.source_path, "t.json"));
	CHECK(!strcmp(cfg.boot.kernel_image_path, "/srv/vmlinux"));
	CHECK(cfg.boot.builtin == NULL);
	CHECK(!strcmp(cfg.boot.boot_args, "console=ttyS0 reboot=k panic=1"));
	CHECK(!strcmp(cfg.boot.initrd_path, "/srv/initrd.img"));
	CHECK_EQ(cfg.machine.vcpu_count, 2);
	CHECK_EQ(cfg.machine.mem_size_mib, 1024);
	CHECK(cfg.machine.smt);
	CHECK_EQ(cfg.n_drives, 2);
	CHECK(!strcmp(cfg.drives[0].drive_id, "rootfs"));
	CHECK(!strcmp(cfg.drives[0].path_on_host, "/srv/rootfs.ext4"));
	CHECK(!strcmp(cfg.drives[0].partuuid, "0eaa91a0-01"));
	CHECK(cfg.drives[0].is_root_device);
	CHECK(cfg.drives[0].is_read_only);
	CHECK_EQ(cfg.drives[0].cache_type, CACHE_WRITEBACK);
	CHECK(!strcmp(cfg.drives[1].drive_id, "Scratch_2-x"));
	CHECK(!strcmp(cfg.drives[1].path_on_host, "scratch.img"));
	CHECK(cfg.drives[1].partuuid == NULL);
	CHECK(!cfg.drives[1].is_root_device);
	CHECK(!cfg.drives[1].is_read_only);
	CHECK_EQ(cfg.drives[1].cache_type, CACHE_UNSAFE);
	config_free(&cfg);
	CHECK(is_zeroed(&cfg));
}

static void test_defaults(void)
{
	if (!GOOD("{}")) {
		CHECK_EQ(cfg.machine.vcpu_count, 1);
		CHECK_EQ(cfg.machine.mem_size_mib, 128);
		CHECK(!cfg.machine.smt);
		CHECK(cfg.boot.kernel_image_path == NULL);
		CHECK(cfg.boot.builtin && !strcmp(cfg.boot.builtin, "hello"));
		CHECK(cfg.boot.boot_args == NULL && cfg.boot.initrd_path == NULL);
		CHECK_EQ(cfg.n_drives, 0);
	}
	config_free(&cfg);
	if (!GOOD(" \r\n\t{ \"boot-source\" : { } , \"machine-config\":{},\"drives\":[] }\r\n "))
		CHECK(!strcmp(cfg.boot.builtin, "hello"));
	config_free(&cfg);
	if (!GOOD("{\"boot-source\":{\"kernel_image_path\":\"builtin:selftest\",\"boot_args\":\"\"}"
		  "}")) {
		CHECK(!strcmp(cfg.boot.builtin, "selftest"));
		CHECK(cfg.boot.kernel_image_path == NULL);
		CHECK(!strcmp(cfg.boot.boot_args, ""));
	}
	config_free(&cfg);
	if (!GOOD("{\"boot-source\":{\"kernel_image_path\":\"builtin:hello\"}}"))
		CHECK(!strcmp(cfg.boot.builtin, "hello"));
	config_free(&cfg);
	if (!GOOD(DRIVE(""))) {
		CHECK_EQ(cfg.n_drives, 1);
		CHECK(!cfg.drives[0].is_read_only);
		CHECK_EQ(cfg.drives[0].cache_type, CACHE_UNSAFE);
		CHECK(cfg.drives[0].partuuid == NULL);
	}
	config_free(&cfg);
}

/* null stands for an absent optional key; required keys must have a value. */
static void test_nulls(void)
{
	if (!GOOD("{\"boot-source\":null,\"machine-config\":{\"vcpu_count\":null,\"smt\":null},"
		  "\"drives\":null}")) {
		CHECK_EQ(cfg.machine.vcpu_count, 1);
		CHECK(!strcmp(cfg.boot.builtin, "hello"));
	}
	config_free(&cfg);
	if (!GOOD(DRIVE(",\"partuuid\":null,\"cache_type\":null,\"io_engine\":null")))
		CHECK(cfg.drives[0].partuuid == NULL);
	config_free(&cfg);
	BAD("{\"drives\":[{\"drive_id\":null,\"path_on_host\":\"p\",\"is_root_device\":true}]}",
	    "t.json:1:24: drives[0].drive_id: expected 1..20 characters of [A-Za-z0-9_-], got "
	    "null");
	BAD("{\"drives\":[{\"drive_id\":\"a\",\"path_on_host\":null,\"is_root_device\":true}]}",
	    "t.json:1:43: drives[0].path_on_host: expected a non-empty path, got null");
	BAD("{\"drives\":[null]}", "t.json:1:12: drives[0]: expected an object, got null");
}

static void test_syntax_top_level(void)
{
	BAD("", "t.json:1:1: expected a JSON object, found end of file");
	BAD(" \n\t\n  ", "t.json:3:3: expected a JSON object, found end of file");
	BAD("[]", "t.json:1:1: expected a JSON object, found '['");
	BAD("\"x\"", "t.json:1:1: expected a JSON object, found a string");
	BAD("42", "t.json:1:1: expected a JSON object, found '42'");
	BAD("true", "t.json:1:1: expected a JSON object, found 'true'");
	BAD("null", "t.json:1:1: expected a JSON object, found 'null'");
	BAD("\xEF\xBB\xBF{}", "t.json:1:1: expected a JSON object, found a UTF-8 byte order mark");
	BAD("{} {}", "t.json:1:4: expected end of file after the top-level object, found '{'");
	BAD("{}\n[]", "t.json:2:1: expected end of file after the top-level object, found '['");
	BAD("{}x", "t.json:1:3: expected end of file after the top-level object, found 'x'");
	BAD("{}]", "t.json:1:3: expected end of file after the top-level object, found ']'");
	BAD("{\"a\":1}}", "t.json:1:8: expected end of file after the top-level object, found '}'");
	BAD("{}\f", "t.json:1:3: expected end of file after the top-level object, found "
		    "control character U+000C");
	BAD("{", "t.json:1:2: expected a string key or '}', found end of file");
}

static void test_syntax_separators(void)
{
	BAD("{\"a\":1 \"b\":2}",
	    "t.json:1:8: expected ',' or '}' after object member, found a string");
	BAD("{\"drives\":[1 2]}",
	    "t.json:1:14: expected ',' or ']' after array element, found '2'");
	BAD("{\"a\":1,}", "t.json:1:8: expected a string key after ',', found '}'");
	BAD("{\"drives\":[1,]}", "t.json:1:14: expected a value, found ']'");
	BAD("{\"drives\":[,1]}", "t.json:1:12: expected a value, found ','");
	BAD("{,}", "t.json:1:2: expected a string key or '}', found ','");
	BAD("{\"a\" 1}", "t.json:1:6: expected ':' after object key, found '1'");
	BAD("{\"a\"=1}", "t.json:1:5: expected ':' after object key, found '='");
	BAD("{\"a\"::1}", "t.json:1:6: expected a value, found ':'");
	BAD("{1:2}", "t.json:1:2: expected a string key or '}', found '1'");
	BAD("{a:1}", "t.json:1:2: expected a string key or '}', found 'a'");
	BAD("{'a':1}", "t.json:1:2: expected a string key or '}', found \"'\"");
	BAD("{\"a\":[}", "t.json:1:7: expected a value, found '}'");
	BAD("{\"a\":{]}", "t.json:1:7: expected a string key or '}', found ']'");
	BAD("{\"a\"", "t.json:1:5: expected ':' after object key, found end of file");
	BAD("{\"a\":", "t.json:1:6: expected a value, found end of file");
	BAD("{\"drives\":[0,0,0",
	    "t.json:1:17: expected ',' or ']' after array element, found end of file");
	BAD("{\"a\":1\n,\n\"b\":2\n", "t.json:4:1: expected ',' or '}' after object member, "
				      "found end of file");
	BAD("{\"a\":1 // comment\n}",
	    "t.json:1:8: expected ',' or '}' after object member, found '/'");
}

static void test_syntax_literals(void)
{
	BAD("{\"a\":tru}", "t.json:1:6: expected a value, found 'tru'");
	BAD("{\"a\":True}", "t.json:1:6: expected a value, found 'True'");
	BAD("{\"a\":nul}", "t.json:1:6: expected a value, found 'nul'");
	BAD("{\"a\":truex}", "t.json:1:6: expected a value, found 'truex'");
	BAD("{\"a\":NaN}", "t.json:1:6: expected a value, found 'NaN'");
	BAD("{\"a\":undefined}", "t.json:1:6: expected a value, found 'undefined'");
	BAD("{\"a\":+1}", "t.json:1:6: expected a value, found '+1'");
	BAD("{\"a\":.5}", "t.json:1:6: expected a value, found '.5'");
	BAD("{\"a\":01}", "t.json:1:6: invalid number '01': leading zeros are not allowed");
	BAD("{\"a\":-01}", "t.json:1:6: invalid number '-01': leading zeros are not allowed");
	BAD("{\"a\":00}", "t.json:1:6: invalid number '00': leading zeros are not allowed");
	BAD("{\"a\":1.}", "t.json:1:6: invalid number '1.': expected a digit after '.'");
	BAD("{\"a\":1.e5}", "t.json:1:6: invalid number '1.e5': expected a digit after '.'");
	BAD("{\"a\":-}", "t.json:1:6: invalid number '-': expected a digit after '-'");
	BAD("{\"a\":-Infinity}",
	    "t.json:1:6: invalid number '-Infinity': expected a digit after '-'");
	BAD("{\"a\":1e}", "t.json:1:6: invalid number '1e': expected a digit in the exponent");
	BAD("{\"a\":1E+}", "t.json:1:6: invalid number '1E+': expected a digit in the exponent");
	BAD("{\"a\":0x10}", "t.json:1:6: invalid number '0x10': unexpected character");
	BAD("{\"a\":1.5.5}", "t.json:1:6: invalid number '1.5.5': unexpected character");
	BAD("{\"a\":12345678901234567890123456789012345678901234567890x}",
	    "t.json:1:6: invalid number '1234567890123456789012345678901234567890...': "
	    "unexpected character");
}

static void test_syntax_strings(void)
{
	BAD("{\"a\":\"x", "t.json:1:6: unterminated string");
	BAD("{\"a\":\"x\\", "t.json:1:6: unterminated string");
	BAD("{\"a\":\"\\x\"}", "t.json:1:7: invalid escape '\\x' in string");
	BAD("{\"a\":\"\\'\"}", "t.json:1:7: invalid escape '\\'' in string");
	BAD("{\"a\":\"\\\n\"}", "t.json:1:7: invalid escape in string");
	BAD("{\"a\":\"\\u12G4\"}",
	    "t.json:1:7: invalid \\u escape in string: expected 4 hex digits");
	BAD("{\"a\":\"\\u12\"}", "t.json:1:7: invalid \\u escape in string: expected 4 hex digits");
	BAD("{\"a\":\"\\U0041\"}", "t.json:1:7: invalid escape '\\U' in string");
	BAD("{\"a\":\"\\ud800\"}",
	    "t.json:1:7: invalid \\u escape in string: unpaired UTF-16 surrogate");
	BAD("{\"a\":\"\\uDC00\"}",
	    "t.json:1:7: invalid \\u escape in string: unpaired UTF-16 surrogate");
	BAD("{\"a\":\"\\uD800\\u0041\"}",
	    "t.json:1:7: invalid \\u escape in string: unpaired UTF-16 surrogate");
	BAD("{\"a\":\"x\\uD800x\"}",
	    "t.json:1:8: invalid \\u escape in string: unpaired UTF-16 surrogate");
	BAD("{\"a\":\"\t\"}", "t.json:1:7: unescaped control character U+0009 in string");
	BAD("{\"a\":\"line\nbreak\"}", "t.json:1:11: unescaped control character U+000A in string");
	BAD("{\"a\":\"\x1f\"}", "t.json:1:7: unescaped control character U+001F in string");
	BAD("{\"a\":\"\xff\"}", "t.json:1:7: invalid UTF-8 in string (byte 0xFF)");
	BAD("{\"a\":\"\x80\"}", "t.json:1:7: invalid UTF-8 in string (byte 0x80)");
	BAD("{\"a\":\"\xc0\xaf\"}", "t.json:1:7: invalid UTF-8 in string (byte 0xC0)");
	BAD("{\"a\":\"\xe0\x80\xaf\"}", "t.json:1:7: invalid UTF-8 in string (byte 0xE0)");
	BAD("{\"a\":\"\xed\xa0\x80\"}", "t.json:1:7: invalid UTF-8 in string (byte 0xED)");
	BAD("{\"a\":\"\xe2\x82\"}", "t.json:1:7: invalid UTF-8 in string (byte 0xE2)");
	BAD("{\"a\":\"\xf4\x90\x80\x80\"}", "t.json:1:7: invalid UTF-8 in string (byte 0xF4)");
	BAD("{\"a\":\"\xf8\x88\x80\x80\x80\"}", "t.json:1:7: invalid UTF-8 in string (byte 0xF8)");
	BAD("{\"\xc3\xa9\":\xc3\xa9}", "t.json:1:6: expected a value, found byte 0xC3");
}

static void test_nul_bytes(void)
{
	BAD("{\0}", "t.json:1:2: expected a string key or '}', found a NUL byte");
	BAD("{\"a\0\":1}", "t.json:1:4: unescaped control character U+0000 in string");
	BAD("{}\0", "t.json:1:3: expected end of file after the top-level object, found a NUL "
		    "byte");
	BAD("\0{}", "t.json:1:1: expected a JSON object, found a NUL byte");
	/* \u0000 is valid JSON, but no path, id or argument may contain it */
	BAD("{\"boot-source\":{\"boot_args\":\"a\\u0000b\"}}",
	    "t.json:1:29: boot-source.boot_args: expected a string without NUL characters, got "
	    "\"a\\u0000b\"");
	BAD("{\"boot-source\":{\"kernel_image_path\":\"/a\\u0000\"}}",
	    "t.json:1:37: boot-source.kernel_image_path: expected a non-empty path without NUL "
	    "characters, got \"/a\\u0000\"");
	BAD("{\"vcpu_count\\u0000\":1}", "t.json:1:2: vcpu_count\\u0000: unknown key");
}

/* Columns count characters, lines count \n; CR LF files report the same positions. */
static void test_line_col(void)
{
	BAD("{\r\n  \"machine-config\": {\r\n    \"vcpu_count\": 0\r\n  }\r\n}\r\n",
	    "t.json:3:19: machine-config.vcpu_count: expected an integer 1..32, got 0");
	BAD("{\"boot-source\":{\"boot_args\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"},x}",
	    "t.json:1:36: expected a string key after ',', found 'x'");
	BAD("\n\n\n\n\n\n\n\n\n\n{\n\"a\":1 2}",
	    "t.json:12:7: expected ',' or '}' after object member, found '2'");
}

static void test_escapes_decoded(void)
{
	if (!GOOD("{\"boot-source\":{\"boot_args\":\"q\\\"b\\\\s\\/f\\bx\\fy\\nz\\rw\\tv\","
		  "\"kernel_image_path\":\"/k\\u00e9\\u20AC\\ud83d\\ude00\\u0041\"}}")) {
		CHECK(!strcmp(cfg.boot.boot_args, "q\"b\\s/f\bx\fy\nz\rw\tv"));
		CHECK(!strcmp(cfg.boot.kernel_image_path, "/k\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
							  "A"));
	}
	config_free(&cfg);
	/* keys are compared after decoding */
	if (!GOOD("{\"machine-config\":{\"vcpu\\u005fcount\":4}}"))
		CHECK_EQ(cfg.machine.vcpu_count, 4);
	config_free(&cfg);
	BAD("{\"machine-config\":{\"vcpu_count\":4,\"vcpu\\u005fcount\":4}}",
	    "t.json:1:35: machine-config: duplicate key \"vcpu_count\"");
	/* raw UTF-8 and DEL are fine in strings */
	if (!GOOD("{\"boot-source\":{\"boot_args\":\"\xc3\xa9\x7f\"}}"))
		CHECK(!strcmp(cfg.boot.boot_args, "\xc3\xa9\x7f"));
	config_free(&cfg);
}

static void test_integers(void)
{
	static const char *const bad_vcpus[] = {
	    "0",
	    "33",
	    "-1",
	    "1.5",
	    "1e1",
	    "1.0",
	    "-0",
	    "1E0",
	    "4294967297",
	    "99999999999999999999",
	    "18446744073709551616",
	    "\"1\"",
	    "true",
	    "[1]",
	    "{}",
	};
	char text[128], want[256], got[64];

	for (size_t i = 0; i < sizeof(bad_vcpus) / sizeof(bad_vcpus[0]); i++) {
		snprintf(text, sizeof(text), "{\"machine-config\":{\"vcpu_count\":%s}}",
			 bad_vcpus[i]);
		snprintf(got, sizeof(got), "%s", bad_vcpus[i]);
		if (bad_vcpus[i][0] == '[')
			snprintf(got, sizeof(got), "an array");
		else if (bad_vcpus[i][0] == '{')
			snprintf(got, sizeof(got), "an object");
		snprintf(
		    want, sizeof(want),
		    "t.json:1:33: machine-config.vcpu_count: expected an integer 1..32, got %s",
		    got);
		bad_at(__LINE__, text, strlen(text), want);
	}
	BAD("{\"machine-config\":{\"mem_size_mib\":1}}",
	    "t.json:1:35: machine-config.mem_size_mib: expected an integer 2..262144, got 1");
	BAD("{\"machine-config\":{\"mem_size_mib\":262145}}",
	    "t.json:1:35: machine-config.mem_size_mib: expected an integer 2..262144, got 262145");
	BAD("{\"machine-config\":{\"mem_size_mib\":128.5}}",
	    "t.json:1:35: machine-config.mem_size_mib: expected an integer 2..262144, got 128.5");
	BAD("{\"machine-config\":{\"mem_size_mib\":"
	    "123456789012345678901234567890123456789012345678901234567890}}",
	    "t.json:1:35: machine-config.mem_size_mib: expected an integer 2..262144, got "
	    "1234567890123456789012345678901234567890...");
	if (!GOOD("{\"machine-config\":{\"vcpu_count\":32,\"mem_size_mib\":262144}}")) {
		CHECK_EQ(cfg.machine.vcpu_count, 32);
		CHECK_EQ(cfg.machine.mem_size_mib, 262144);
	}
	config_free(&cfg);
	if (!GOOD("{\"machine-config\":{\"vcpu_count\":1,\"mem_size_mib\":2}}"))
		CHECK_EQ(cfg.machine.mem_size_mib, 2);
	config_free(&cfg);
}

static void test_types(void)
{
	BAD("{\"boot-source\":[]}", "t.json:1:16: boot-source: expected an object, got an array");
	BAD("{\"machine-config\":\"x\"}",
	    "t.json:1:19: machine-config: expected an object, got \"x\"");
	BAD("{\"drives\":{}}", "t.json:1:11: drives: expected an array, got an object");
	BAD("{\"drives\":[\"d\"]}", "t.json:1:12: drives[0]: expected an object, got \"d\"");
	BAD("{\"boot-source\":{\"kernel_image_path\":42}}",
	    "t.json:1:37: boot-source.kernel_image_path: expected a non-empty path, got 42");
	BAD("{\"boot-source\":{\"boot_args\":[\"a\"]}}",
	    "t.json:1:29: boot-source.boot_args: expected a string, got an array");
	BAD("{\"boot-source\":{\"initrd_path\":false}}",
	    "t.json:1:31: boot-source.initrd_path: expected a non-empty path, got false");
	BAD("{\"boot-source\":{\"initrd_path\":\"\"}}",
	    "t.json:1:31: boot-source.initrd_path: expected a non-empty path, got \"\"");
	BAD("{\"machine-config\":{\"smt\":1}}",
	    "t.json:1:26: machine-config.smt: expected true or false, got 1");
	BAD("{\"machine-config\":{\"smt\":\"true\"}}",
	    "t.json:1:26: machine-config.smt: expected true or false, got \"true\"");
	BAD("{\"machine-config\":{\"track_dirty_pages\":0}}",
	    "t.json:1:40: machine-config.track_dirty_pages: expected true or false, got 0");
	BAD("{\"machine-config\":{\"huge_pages\":2}}",
	    "t.json:1:33: machine-config.huge_pages: expected \"None\", got 2");
	BAD(DRIVE(",\"is_read_only\":\"no\""),
	    "t.json:1:85: drives[0].is_read_only: expected true or false, got \"no\"");
	BAD("{\"drives\":[{\"drive_id\":\"a\",\"path_on_host\":\"p\",\"is_root_device\":1}]}",
	    "t.json:1:64: drives[0].is_root_device: expected true or false, got 1");
	BAD(DRIVE(",\"cache_type\":\"unsafe\""),
	    "t.json:1:83: drives[0].cache_type: expected \"Unsafe\" or \"Writeback\", got "
	    "\"unsafe\"");
	BAD(DRIVE(",\"cache_type\":0"),
	    "t.json:1:83: drives[0].cache_type: expected \"Unsafe\" or \"Writeback\", got 0");
	BAD(DRIVE(",\"io_engine\":[]"),
	    "t.json:1:82: drives[0].io_engine: expected \"Sync\", got an array");
	BAD(DRIVE(",\"partuuid\":\"\""),
	    "t.json:1:81: drives[0].partuuid: expected a partition UUID (1..36 hex digits and "
	    "'-'), got \"\"");
	BAD(DRIVE(",\"partuuid\":\"xyz\""),
	    "t.json:1:81: drives[0].partuuid: expected a partition UUID (1..36 hex digits and "
	    "'-'), got \"xyz\"");
	BAD(DRIVE(",\"partuuid\":\"0123456789-0123456789-0123456789-0123456\""),
	    "t.json:1:81: drives[0].partuuid: expected a partition UUID (1..36 hex digits and "
	    "'-'), got \"0123456789-0123456789-0123456789-0123456\"");
	BAD(DRIVE(",\"partuuid\":7"),
	    "t.json:1:81: drives[0].partuuid: expected a partition UUID (1..36 hex digits and "
	    "'-'), got 7");
}

/* Long values are shortened in messages; control characters stay escaped. */
static void test_got_is_short(void)
{
	BAD("{\"machine-config\":{\"huge_pages\":"
	    "\"aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeee\"}}",
	    "t.json:1:33: machine-config.huge_pages: \"aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd"
	    "...\" is not supported by microvm (only \"None\")");
	BAD("{\"machine-config\":{\"huge_pages\":\"\\n\\u0001\x7f\"}}",
	    "t.json:1:33: machine-config.huge_pages: \"\\n\\u0001\\u007f\" is not supported by "
	    "microvm (only \"None\")");
	/* a cut never splits a UTF-8 sequence: 39 x then a 2-byte é */
	BAD("{\"machine-config\":{\"huge_pages\":"
	    "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xc3\xa9\"}}",
	    "t.json:1:33: machine-config.huge_pages: \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "...\" is not supported by microvm (only \"None\")");
}

static void test_unknown_keys(void)
{
	BAD("{\"foo\":1}", "t.json:1:2: foo: unknown key");
	BAD("{\"machine_config\":{}}", "t.json:1:2: machine_config: unknown key");
	BAD("{\"boot-source\":{\"kernel\":\"x\"}}", "t.json:1:17: boot-source.kernel: unknown key");
	BAD("{\"machine-config\":{\"vcpu_count\":1,\"foo\":1}}",
	    "t.json:1:35: machine-config.foo: unknown key");
	BAD(DRIVE(",\"readonly\":true"), "t.json:1:70: drives[0].readonly: unknown key");
	BAD("{\"drives\":[{\"drive_id\":\"a\"},{\"drive_id\":\"b\",\"x\":1}]}",
	    "t.json:1:12: drives[0]: missing required key \"path_on_host\"");
	BAD("{\"\":1}", "t.json:1:2: unknown key \"\"");
	BAD("{\"x\\u007fy\\u0001\\n\":1}", "t.json:1:2: x\\u007fy\\u0001\\n: unknown key");
	BAD("{\"x\x7f\":1}", "t.json:1:2: x\\u007f: unknown key");
	BAD("{\"aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeee\":1}",
	    "t.json:1:2: aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd...: unknown key");
	/* an unknown key is reported before a later duplicate */
	BAD("{\"x\":1,\"x\":1}", "t.json:1:2: x: unknown key");
}

static void test_not_supported(void)
{
	static const char *const fc[] = {"balloon", "logger", "metrics", "mmds-config",
					 "cpu-config"};
	char text[128], want[256];

	for (size_t i = 0; i < sizeof(fc) / sizeof(fc[0]); i++) {
		snprintf(text, sizeof(text), "{\n  \"%s\": {}\n}", fc[i]);
		snprintf(want, sizeof(want), "t.json:2:3: %s: not supported by microvm", fc[i]);
		bad_at(__LINE__, text, strlen(text), want);
	}
	BAD(DRIVE(",\"rate_limiter\":{\"bandwidth\":{}}"),
	    "t.json:1:70: drives[0].rate_limiter: not supported by microvm");
	BAD(DRIVE(",\"socket\":\"/run/vhost.sock\""),
	    "t.json:1:70: drives[0].socket: not supported by microvm");
	BAD(DRIVE(",\"io_engine\":\"Async\""),
	    "t.json:1:82: drives[0].io_engine: \"Async\" is not supported by microvm (only "
	    "\"Sync\")");
	BAD("{\"machine-config\":{\"track_dirty_pages\":true}}",
	    "t.json:1:40: machine-config.track_dirty_pages: true is not supported by microvm "
	    "(only false)");
	BAD("{\"machine-config\":{\"huge_pages\":\"2M\"}}",
	    "t.json:1:33: machine-config.huge_pages: \"2M\" is not supported by microvm (only "
	    "\"None\")");
	BAD("{\"machine-config\":{\"cpu_template\":\"T2\"}}",
	    "t.json:1:35: machine-config.cpu_template: \"T2\" is not supported by microvm (only "
	    "\"None\")");
}

static char *repeat(const char *head, char c, size_t n, const char *tail);

/* One interface with the required keys, for tests about other keys. */
#define NET(extra)                                                                                 \
	"{\"network-interfaces\":[{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\"" extra "}]}"

static void test_network(void)
{
	static const char two[] =
	    "{\"network-interfaces\":[\n"
	    "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\",\"guest_mac\":\"06:00:AC:10:00:02\"}"
	    ",\n"
	    "{\"iface_id\":\"eth1\",\"host_dev_name\":\"tap1\",\"guest_mac\":null,"
	    "\"rx_rate_limiter\":null,\"tx_rate_limiter\":null}]}";

	if (!GOOD(two)) {
		CHECK_EQ(cfg.n_nets, 2);
		CHECK(!strcmp(cfg.nets[0].iface_id, "eth0"));
		CHECK(!strcmp(cfg.nets[0].host_dev_name, "tap0"));
		CHECK(cfg.nets[0].has_mac);
		CHECK(!memcmp(cfg.nets[0].guest_mac, "\x06\x00\xac\x10\x00\x02", 6));
		CHECK(!strcmp(cfg.nets[1].host_dev_name, "tap1"));
		CHECK(!cfg.nets[1].has_mac);
	}
	config_free(&cfg);
	if (!GOOD("{\"network-interfaces\":[]}"))
		CHECK_EQ(cfg.n_nets, 0);
	config_free(&cfg);
	BAD("{\"network-interfaces\":{}}",
	    "t.json:1:23: network-interfaces: expected an array, got an object");
	BAD("{\"network-interfaces\":[{\"iface_id\":\"eth0\"}]}",
	    "t.json:1:24: network-interfaces[0]: missing required key \"host_dev_name\"");
	BAD("{\"network-interfaces\":[{\"host_dev_name\":\"tap0\"}]}",
	    "t.json:1:24: network-interfaces[0]: missing required key \"iface_id\"");
	BAD(NET(",\"rx_rate_limiter\":{\"bandwidth\":{\"size\":1,\"refill_time\":1}}"),
	    "t.json:1:66: network-interfaces[0].rx_rate_limiter: not supported by microvm");
	BAD(NET(",\"tx_rate_limiter\":{}"),
	    "t.json:1:66: network-interfaces[0].tx_rate_limiter: not supported by microvm");
	BAD(NET(",\"mtu\":9000"), "t.json:1:66: network-interfaces[0].mtu: unknown key");
	BAD("{\"network-interfaces\":[{\"iface_id\":\"eth 0\",\"host_dev_name\":\"tap0\"}]}",
	    "t.json:1:36: network-interfaces[0].iface_id: expected 1..64 characters of "
	    "[A-Za-z0-9_-], got \"eth 0\"");
	BAD("{\"network-interfaces\":[{\"iface_id\":\"e\",\"host_dev_name\":\"a/b\"}]}",
	    "t.json:1:56: network-interfaces[0].host_dev_name: expected an interface name of "
	    "1..15 characters without '/', ':' or spaces, got \"a/b\"");
	BAD("{\"network-interfaces\":[{\"iface_id\":\"e\",\"host_dev_name\":\"0123456789abcdef\"}]"
	    "}",
	    "t.json:1:56: network-interfaces[0].host_dev_name: expected an interface name of "
	    "1..15 characters without '/', ':' or spaces, got \"0123456789abcdef\"");
	BAD("{\"network-interfaces\":[{\"iface_id\":\"e\",\"host_dev_name\":\"..\"}]}",
	    "t.json:1:56: network-interfaces[0].host_dev_name: expected an interface name of "
	    "1..15 characters without '/', ':' or spaces, got \"..\"");
	BAD("{\"network-interfaces\":[{\"iface_id\":\"e\",\"host_dev_name\":\"\"}]}",
	    "t.json:1:56: network-interfaces[0].host_dev_name: expected an interface name of "
	    "1..15 characters without '/', ':' or spaces, got \"\"");
	if (!GOOD("{\"network-interfaces\":[{\"iface_id\":\"e\",\"host_dev_name\":"
		  "\"0123456789abcde\"}]}"))
		CHECK(!strcmp(cfg.nets[0].host_dev_name, "0123456789abcde"));
	config_free(&cfg);
}

static void test_network_mac(void)
{
	static const char *const bad_macs[] = {"06:00:00:00:00",    "06:00:00:00:00:0g",
					       "06-00-00-00-00-01", "06:00:00:00:00:001",
					       "0600:00:00:00:01",  ""};
	char text[256], want[384];

	for (size_t i = 0; i < sizeof(bad_macs) / sizeof(bad_macs[0]); i++) {
		snprintf(text, sizeof(text), NET(",\"guest_mac\":\"%s\""), bad_macs[i]);
		snprintf(want, sizeof(want),
			 "t.json:1:78: network-interfaces[0].guest_mac: expected a MAC address "
			 "\"xx:xx:xx:xx:xx:xx\", got \"%s\"",
			 bad_macs[i]);
		bad_at(__LINE__, text, strlen(text), want);
	}
	BAD(NET(",\"guest_mac\":6"), "t.json:1:78: network-interfaces[0].guest_mac: expected a MAC "
				     "address \"xx:xx:xx:xx:xx:xx\", got 6");
	BAD(NET(",\"guest_mac\":\"01:00:5e:00:00:01\""),
	    "t.json:1:78: network-interfaces[0].guest_mac: expected a unicast, non-zero MAC "
	    "address (first byte even), got \"01:00:5e:00:00:01\"");
	BAD(NET(",\"guest_mac\":\"00:00:00:00:00:00\""),
	    "t.json:1:78: network-interfaces[0].guest_mac: expected a unicast, non-zero MAC "
	    "address (first byte even), got \"00:00:00:00:00:00\"");
	if (!GOOD(NET(",\"guest_mac\":\"fe:dc:BA:98:76:54\"")))
		CHECK(!memcmp(cfg.nets[0].guest_mac, "\xfe\xdc\xba\x98\x76\x54", 6));
	config_free(&cfg);
}

static void test_network_duplicates(void)
{
	static const char same_id[] = "{\"network-interfaces\":[\n"
				      "{\"iface_id\":\"a\",\"host_dev_name\":\"tap0\"},\n"
				      "{\"iface_id\":\"a\",\"host_dev_name\":\"tap1\"}]}";
	static const char same_tap[] = "{\"network-interfaces\":[\n"
				       "{\"iface_id\":\"a\",\"host_dev_name\":\"tap0\"},\n"
				       "{\"iface_id\":\"b\",\"host_dev_name\":\"tap1\"},\n"
				       "{\"iface_id\":\"c\",\"host_dev_name\":\"tap0\"}]}";
	static const char same_mac[] =
	    "{\"network-interfaces\":[\n"
	    "{\"iface_id\":\"a\",\"host_dev_name\":\"tap0\",\"guest_mac\":\"02:00:00:00:00:01\"},\n"
	    "{\"iface_id\":\"b\",\"host_dev_name\":\"tap1\",\"guest_mac\":\"02:00:00:00:00:01\"}]}";
	char buf[2048];
	size_t o;

	BAD(same_id, "t.json:3:13: network-interfaces[1].iface_id: duplicate iface_id \"a\" (also "
		     "network-interfaces[0])");
	BAD(same_tap, "t.json:4:33: network-interfaces[2].host_dev_name: duplicate host_dev_name "
		      "\"tap0\" (also network-interfaces[0])");
	BAD(same_mac, "t.json:3:52: network-interfaces[1].guest_mac: duplicate guest_mac (also "
		      "network-interfaces[0])");
	BAD("{\"network-interfaces\":[{\"iface_id\":\"a\",\"iface_id\":\"b\"}]}",
	    "t.json:1:40: network-interfaces[0]: duplicate key \"iface_id\"");
	o = (size_t)snprintf(buf, sizeof(buf), "{\"network-interfaces\":[");
	for (unsigned i = 0; i < 9; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o,
				      "%s{\"iface_id\":\"e%u\",\"host_dev_name\":\"t%u\"}",
				      i ? "," : "", i, i);
	snprintf(buf + o, sizeof(buf) - o, "]}");
	bad_at(__LINE__, buf, strlen(buf),
	       "t.json:1:23: network-interfaces: expected at most 8 network interfaces, got 9");
}

static void test_vsock(void)
{
	char *s;

	if (!GOOD("{\"vsock\":{\"guest_cid\":3,\"uds_path\":\"/run/v.sock\"}}")) {
		CHECK(cfg.vsock.enabled);
		CHECK_EQ(cfg.vsock.guest_cid, 3);
		CHECK(!strcmp(cfg.vsock.uds_path, "/run/v.sock"));
		CHECK(cfg.vsock.vsock_id == NULL);
	}
	config_free(&cfg);
	if (!GOOD("{\"vsock\":{\"vsock_id\":\"vsock0\",\"guest_cid\":4294967294,\"uds_path\":\"v\"}"
		  "}")) {
		CHECK_EQ(cfg.vsock.guest_cid, 4294967294U);
		CHECK(!strcmp(cfg.vsock.vsock_id, "vsock0"));
	}
	config_free(&cfg);
	if (!GOOD("{\"vsock\":null}"))
		CHECK(!cfg.vsock.enabled);
	config_free(&cfg);
	BAD("{\"vsock\":{\"guest_cid\":2,\"uds_path\":\"v\"}}",
	    "t.json:1:23: vsock.guest_cid: expected an integer 3..4294967294, got 2");
	BAD("{\"vsock\":{\"guest_cid\":4294967295,\"uds_path\":\"v\"}}",
	    "t.json:1:23: vsock.guest_cid: expected an integer 3..4294967294, got 4294967295");
	BAD("{\"vsock\":{\"guest_cid\":3}}",
	    "t.json:1:10: vsock: missing required key \"uds_path\"");
	BAD("{\"vsock\":{\"uds_path\":\"v\"}}",
	    "t.json:1:10: vsock: missing required key \"guest_cid\"");
	BAD("{\"vsock\":{\"guest_cid\":3,\"uds_path\":\"\"}}",
	    "t.json:1:36: vsock.uds_path: expected a non-empty path, got \"\"");
	BAD("{\"vsock\":{\"guest_cid\":3,\"uds_path\":\"v\",\"vsock_id\":\"a b\"}}",
	    "t.json:1:51: vsock.vsock_id: expected 1..64 characters of [A-Za-z0-9_-], got \"a b\"");
	BAD("{\"vsock\":{\"guest_cid\":3,\"uds_path\":\"v\",\"port\":1}}",
	    "t.json:1:40: vsock.port: unknown key");
	BAD("{\"vsock\":[]}", "t.json:1:10: vsock: expected an object, got an array");
	s = repeat("{\"vsock\":{\"guest_cid\":3,\"uds_path\":\"/", 'a', 95, "\"}}");
	if (!good_at(__LINE__, s, strlen(s)))
		CHECK_EQ(strlen(cfg.vsock.uds_path), 96);
	config_free(&cfg);
	free(s);
	s = repeat("{\"vsock\":{\"guest_cid\":3,\"uds_path\":\"/", 'a', 96, "\"}}");
	bad_at(__LINE__, s, strlen(s),
	       "t.json:1:36: vsock.uds_path: expected a path of at most 96 bytes (a unix socket "
	       "path with \"_PORT\" added), got \"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"");
	free(s);
}

static void test_entropy(void)
{
	if (!GOOD("{\"entropy\":{}}")) {
		CHECK(cfg.entropy.enabled);
		CHECK_EQ(cfg.entropy.bandwidth.size, 0);
	}
	config_free(&cfg);
	if (!GOOD("{\"entropy\":{\"rate_limiter\":{\"bandwidth\":{\"size\":1024,"
		  "\"refill_time\":100,\"one_time_burst\":4096}}}}")) {
		CHECK(cfg.entropy.enabled);
		CHECK_EQ(cfg.entropy.bandwidth.size, 1024);
		CHECK_EQ(cfg.entropy.bandwidth.refill_time_ms, 100);
		CHECK_EQ(cfg.entropy.bandwidth.one_time_burst, 4096);
	}
	config_free(&cfg);
	if (!GOOD("{\"entropy\":{\"rate_limiter\":null}}"))
		CHECK(cfg.entropy.enabled && cfg.entropy.bandwidth.size == 0);
	config_free(&cfg);
	if (!GOOD("{\"entropy\":{\"rate_limiter\":{}}}"))
		CHECK(cfg.entropy.bandwidth.size == 0);
	config_free(&cfg);
	if (!GOOD("{\"entropy\":null}"))
		CHECK(!cfg.entropy.enabled);
	config_free(&cfg);
	BAD("{\"entropy\":{\"rate_limiter\":{\"ops\":{\"size\":1,\"refill_time\":1}}}}",
	    "t.json:1:29: entropy.rate_limiter.ops: not supported by microvm");
	BAD("{\"entropy\":{\"rate_limiter\":{\"bandwidth\":{\"size\":0,\"refill_time\":1}}}}",
	    "t.json:1:49: entropy.rate_limiter.bandwidth.size: expected an integer "
	    "1..4294967296, got 0");
	BAD("{\"entropy\":{\"rate_limiter\":{\"bandwidth\":{\"size\":1,\"refill_time\":0}}}}",
	    "t.json:1:65: entropy.rate_limiter.bandwidth.refill_time: expected an integer "
	    "1..4294967296, got 0");
	BAD("{\"entropy\":{\"rate_limiter\":{\"bandwidth\":{\"size\":1}}}}",
	    "t.json:1:41: entropy.rate_limiter.bandwidth: missing required key \"refill_time\"");
	BAD("{\"entropy\":{\"rate\":1}}", "t.json:1:13: entropy.rate: unknown key");
	BAD("{\"entropy\":true}", "t.json:1:12: entropy: expected an object, got true");
}

/* A config with nd drives, nn network interfaces, and vsock and entropy if asked. */
static void devices_text(char *buf, size_t cap, unsigned nd, unsigned nn, bool vsock, bool rng)
{
	size_t o = (size_t)snprintf(buf, cap, "{\"drives\":[");

	for (unsigned i = 0; i < nd; i++)
		o += (size_t)snprintf(buf + o, cap - o,
				      "%s{\"drive_id\":\"d%u\",\"path_on_host\":\"p\","
				      "\"is_root_device\":false}",
				      i ? "," : "", i);
	o += (size_t)snprintf(buf + o, cap - o, "],\"network-interfaces\":[");
	for (unsigned i = 0; i < nn; i++)
		o += (size_t)snprintf(buf + o, cap - o,
				      "%s{\"iface_id\":\"e%u\",\"host_dev_name\":\"t%u\"}",
				      i ? "," : "", i, i);
	snprintf(buf + o, cap - o, "]%s%s}",
		 vsock ? ",\"vsock\":{\"guest_cid\":3,\"uds_path\":\"v\"}" : "",
		 rng ? ",\"entropy\":{}" : "");
}

static void test_virtio_count(void)
{
	char buf[4096];

	devices_text(buf, sizeof(buf), 16, 1, true, true);
	if (!good_at(__LINE__, buf, strlen(buf)))
		CHECK_EQ(cfg.n_drives + cfg.n_nets + cfg.vsock.enabled + cfg.entropy.enabled, 19);
	config_free(&cfg);
	devices_text(buf, sizeof(buf), 16, 2, true, true);
	bad_at(__LINE__, buf, strlen(buf),
	       "t.json:1:1: expected at most 19 virtio devices (drives, network-interfaces, vsock, "
	       "entropy together), got 20");
	devices_text(buf, sizeof(buf), 12, 8, false, false);
	bad_at(__LINE__, buf, strlen(buf),
	       "t.json:1:1: expected at most 19 virtio devices (drives, network-interfaces, vsock, "
	       "entropy together), got 20");
}

static void test_duplicates(void)
{
	BAD("{\"drives\":[],\n \"drives\":[]}", "t.json:2:2: duplicate key \"drives\"");
	BAD("{\"boot-source\":{\"boot_args\":\"a\",\"boot_args\":\"b\"}}",
	    "t.json:1:33: boot-source: duplicate key \"boot_args\"");
	BAD("{\"machine-config\":{\"vcpu_count\":1,\"vcpu_count\":2}}",
	    "t.json:1:35: machine-config: duplicate key \"vcpu_count\"");
	BAD(DRIVE(",\"drive_id\":\"e\""), "t.json:1:70: drives[0]: duplicate key \"drive_id\"");
	BAD("{\"machine-config\":null,\"machine-config\":{}}",
	    "t.json:1:24: duplicate key \"machine-config\"");
}

static void test_drive_checks(void)
{
	static const char two_roots[] =
	    "{\"drives\":[\n"
	    "{\"drive_id\":\"a\",\"path_on_host\":\"p\",\"is_root_device\":true},\n"
	    "{\"drive_id\":\"b\",\"path_on_host\":\"p\",\"is_root_device\":true}]}";
	static const char same_id[] =
	    "{\"drives\":[\n"
	    "{\"drive_id\":\"a\",\"path_on_host\":\"p\",\"is_root_device\":true},\n"
	    "{\"drive_id\":\"b\",\"path_on_host\":\"p\",\"is_root_device\":false},\n"
	    "{\"drive_id\":\"a\",\"path_on_host\":\"q\",\"is_root_device\":false}]}";

	BAD(two_roots, "t.json:3:53: drives[1].is_root_device: more than one root device "
		       "(drives[0] is one too)");
	BAD(same_id, "t.json:4:13: drives[2].drive_id: duplicate drive_id \"a\" (also drives[0])");
	BAD("{\"drives\":[{\"path_on_host\":\"p\",\"is_root_device\":true}]}",
	    "t.json:1:12: drives[0]: missing required key \"drive_id\"");
	BAD("{\"drives\":[{\"drive_id\":\"a\",\"is_root_device\":true}]}",
	    "t.json:1:12: drives[0]: missing required key \"path_on_host\"");
	BAD("{\"drives\":[{\"drive_id\":\"a\",\"path_on_host\":\"p\"}]}",
	    "t.json:1:12: drives[0]: missing required key \"is_root_device\"");
	BAD("{\"drives\":[{\"drive_id\":\"a b\",\"path_on_host\":\"p\",\"is_root_device\":true}]}",
	    "t.json:1:24: drives[0].drive_id: expected 1..20 characters of [A-Za-z0-9_-], got "
	    "\"a b\"");
	BAD("{\"drives\":[{\"drive_id\":\"\",\"path_on_host\":\"p\",\"is_root_device\":true}]}",
	    "t.json:1:24: drives[0].drive_id: expected 1..20 characters of [A-Za-z0-9_-], got "
	    "\"\"");
	BAD("{\"drives\":[{\"drive_id\":\"abcdefghij0123456789X\",\"path_on_host\":\"p\","
	    "\"is_root_device\":true}]}",
	    "t.json:1:24: drives[0].drive_id: expected 1..20 characters of [A-Za-z0-9_-], got "
	    "\"abcdefghij0123456789X\"");
	BAD("{\"drives\":[{\"drive_id\":\"r\xc3\xa9\",\"path_on_host\":\"p\",\"is_root_device\":"
	    "true}]}",
	    "t.json:1:24: drives[0].drive_id: expected 1..20 characters of [A-Za-z0-9_-], got "
	    "\"r\xc3\xa9\"");
	BAD("{\"drives\":[{\"drive_id\":\"a\",\"path_on_host\":\"\",\"is_root_device\":true}]}",
	    "t.json:1:43: drives[0].path_on_host: expected a non-empty path, got \"\"");
	if (!GOOD("{\"drives\":[{\"drive_id\":\"abcdefghij0123456789\",\"path_on_host\":\"p\","
		  "\"is_root_device\":true}]}"))
		CHECK(!strcmp(cfg.drives[0].drive_id, "abcdefghij0123456789"));
	config_free(&cfg);
}

static void drives_text(char *buf, size_t cap, unsigned n)
{
	size_t o = (size_t)snprintf(buf, cap, "{\"drives\":[");

	for (unsigned i = 0; i < n; i++)
		o += (size_t)snprintf(buf + o, cap - o,
				      "%s{\"drive_id\":\"d%u\",\"path_on_host\":\"/p/%u\","
				      "\"is_root_device\":%s}",
				      i ? "," : "", i, i, i == 3 ? "true" : "false");
	snprintf(buf + o, cap - o, "]}");
}

static void test_drive_count(void)
{
	char buf[4096];

	drives_text(buf, sizeof(buf), 16);
	if (!good_at(__LINE__, buf, strlen(buf))) {
		CHECK_EQ(cfg.n_drives, 16);
		CHECK(!strcmp(cfg.drives[15].drive_id, "d15"));
		CHECK(!strcmp(cfg.drives[15].path_on_host, "/p/15"));
		CHECK(cfg.drives[3].is_root_device);
	}
	config_free(&cfg);
	drives_text(buf, sizeof(buf), 17);
	bad_at(__LINE__, buf, strlen(buf),
	       "t.json:1:11: drives: expected at most 16 drives, got 17");
	/* an error in a later drive frees the earlier ones (LeakSanitizer checks) */
	drives_text(buf, sizeof(buf), 5);
	memcpy(strstr(buf, "\"d4\""), "\"d0\"", 4);
	bad_at(__LINE__, buf, strlen(buf),
	       "t.json:1:275: drives[4].drive_id: duplicate drive_id \"d0\" (also drives[0])");
}

static void test_builtin(void)
{
	BAD("{\"boot-source\":{\"kernel_image_path\":\"builtin:foo\"}}",
	    "t.json:1:37: boot-source.kernel_image_path: unknown built-in guest, expected "
	    "builtin:hello or builtin:selftest, got \"builtin:foo\"");
	BAD("{\"boot-source\":{\"kernel_image_path\":\"builtin:\"}}",
	    "t.json:1:37: boot-source.kernel_image_path: unknown built-in guest, expected "
	    "builtin:hello or builtin:selftest, got \"builtin:\"");
	BAD("{\"boot-source\":{\"kernel_image_path\":\"builtin:hello \"}}",
	    "t.json:1:37: boot-source.kernel_image_path: unknown built-in guest, expected "
	    "builtin:hello or builtin:selftest, got \"builtin:hello \"");
	BAD("{\"boot-source\":{\"kernel_image_path\":\"\"}}",
	    "t.json:1:37: boot-source.kernel_image_path: expected a non-empty path, got \"\"");
	/* only the exact prefix means a built-in guest */
	if (!GOOD("{\"boot-source\":{\"kernel_image_path\":\"Builtin:hello\"}}")) {
		CHECK(!strcmp(cfg.boot.kernel_image_path, "Builtin:hello"));
		CHECK(cfg.boot.builtin == NULL);
	}
	config_free(&cfg);
}

static void test_smt(void)
{
	BAD("{\"machine-config\":{\"smt\":true,\"vcpu_count\":3}}",
	    "t.json:1:44: machine-config.vcpu_count: expected 1 or an even number when smt is "
	    "true, got 3");
	if (!GOOD("{\"machine-config\":{\"smt\":true,\"vcpu_count\":1}}"))
		CHECK(cfg.machine.smt);
	config_free(&cfg);
	if (!GOOD("{\"machine-config\":{\"vcpu_count\":4,\"smt\":true}}"))
		CHECK_EQ(cfg.machine.vcpu_count, 4);
	config_free(&cfg);
	if (!GOOD("{\"machine-config\":{\"vcpu_count\":3,\"smt\":false}}"))
		CHECK_EQ(cfg.machine.vcpu_count, 3);
	config_free(&cfg);
}

static char *repeat(const char *head, char c, size_t n, const char *tail)
{
	size_t h = strlen(head), t = strlen(tail);
	char *s = malloc(h + n + t + 1);

	memcpy(s, head, h);
	memset(s + h, c, n);
	memcpy(s + h + n, tail, t + 1);
	return s;
}

static void test_limits(void)
{
	char *s;
	size_t n;

	/* 10000 '[' stop at the 33rd level without recursing further */
	s = repeat("{\"a\":", '[', 10000, "");
	bad_at(__LINE__, s, strlen(s), "t.json:1:37: nesting deeper than 32 levels");
	free(s);
	s = repeat("", '{', 10000, "");
	bad_at(__LINE__, s, strlen(s), "t.json:1:2: expected a string key or '}', found '{'");
	free(s);
	/* 32 levels are fine for the syntax (then the schema rejects the key) */
	s = malloc(5 + 31 + 31 + 1);
	memcpy(s, "{\"a\":", 5);
	memset(s + 5, '[', 31);
	memset(s + 36, ']', 31);
	s[67] = '}';
	n = 68;
	bad_at(__LINE__, s, n, "t.json:1:2: a: unknown key");
	free(s);
	/* more values than JSON_MAX_TOKENS */
	s = malloc(2 * 70000 + 16);
	n = (size_t)sprintf(s, "{\"drives\":[");
	for (int i = 0; i < 70000; i++)
		n += (size_t)sprintf(s + n, "0,");
	sprintf(s + n - 1, "]}");
	bad_at(__LINE__, s, strlen(s), "t.json:1:131078: too many JSON values (more than 65536)");
	free(s);
	/* text over CONFIG_MAX_FILE, and a big but valid one */
	s = repeat("{\"boot-source\":{\"boot_args\":\"", 'x', CONFIG_MAX_FILE, "\"}}");
	bad_at(__LINE__, s, strlen(s), "t.json: 1048608 bytes, more than the 1048576-byte limit");
	free(s);
	s = repeat("{\"boot-source\":{\"boot_args\":\"", 'x', CONFIG_MAX_FILE - 64, "\"}}");
	if (!good_at(__LINE__, s, strlen(s)))
		CHECK_EQ(strlen(cfg.boot.boot_args), CONFIG_MAX_FILE - 64);
	config_free(&cfg);
	free(s);
	/* paths up to 4095 bytes */
	s = repeat("{\"boot-source\":{\"kernel_image_path\":\"", 'k', 4095, "\"}}");
	if (!good_at(__LINE__, s, strlen(s)))
		CHECK_EQ(strlen(cfg.boot.kernel_image_path), 4095);
	config_free(&cfg);
	free(s);
	s = repeat("{\"boot-source\":{\"kernel_image_path\":\"", 'k', 4096, "\"}}");
	bad_at(__LINE__, s, strlen(s),
	       "t.json:1:37: boot-source.kernel_image_path: expected a path of at most 4095 "
	       "bytes, got \"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...\"");
	free(s);
}

/* The text need not be NUL-terminated; len is what counts. */
static void test_not_terminated(void)
{
	char *s = malloc(2);

	memcpy(s, "{}", 2);
	CHECK_EQ(config_parse("t.json", s, 2, &cfg, &err), 0);
	config_free(&cfg);
	CHECK_EQ(config_parse("t.json", s, 1, &cfg, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "t.json:1:2: expected a string key or '}', found end of file");
	CHECK_EQ(config_parse("t.json", NULL, 0, &cfg, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "t.json:1:1: expected a JSON object, found end of file");
	CHECK_EQ(config_parse(NULL, "[", 1, &cfg, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "config:1:1: expected a JSON object");
	CHECK_EQ(config_parse("t.json", "{}", 2, &cfg, NULL), 0);
	config_free(&cfg);
	CHECK_EQ(config_parse("t.json", "{]", 2, &cfg, NULL), -EINVAL);
	free(s);
}

static void test_free(void)
{
	struct vm_config c;

	memset(&c, 0, sizeof(c));
	config_free(&c);
	config_free(&c);
	CHECK(is_zeroed(&c));
	memset(&c, 0, sizeof(c));
	c.boot.boot_args = strdup("x");
	c.drives[7].path_on_host = strdup("y");
	c.n_drives = 2; /* fields beyond n_drives are freed too */
	config_free(&c);
	CHECK(is_zeroed(&c));
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

static char tmpdir[] = "/tmp/test_config.XXXXXX";

static void test_load_file_contents(void)
{
	char path[256], want[512];

	snprintf(path, sizeof(path), "%s/ok.json", tmpdir);
	write_file(path, "{\"machine-config\": {\"vcpu_count\": 2}}\n");
	CHECK_EQ(config_load_file(path, &cfg, &err), 0);
	CHECK_EQ(cfg.machine.vcpu_count, 2);
	CHECK(cfg.source_path && !strcmp(cfg.source_path, path));
	config_free(&cfg);
	unlink(path);

	snprintf(path, sizeof(path), "%s/bad.json", tmpdir);
	write_file(path, "{\n  \"machine-config\": {\"vcpu_count\": 64}\n}\n");
	CHECK_EQ(config_load_file(path, &cfg, &err), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:2:36: machine-config.vcpu_count: expected an integer 1..32, got 64", path);
	CHECK(!strcmp(err.msg, want));
	CHECK(is_zeroed(&cfg));
	unlink(path);

	snprintf(path, sizeof(path), "%s/empty.json", tmpdir);
	write_file(path, "");
	CHECK_EQ(config_load_file(path, &cfg, &err), -EINVAL);
	snprintf(want, sizeof(want), "%s:1:1: expected a JSON object, found end of file", path);
	CHECK(!strcmp(err.msg, want));
	unlink(path);
}

/* path must fail with rc and the message "PATH" + suffix. */
static void load_fails(const char *path, int rc, const char *suffix)
{
	char want[512];

	CHECK_EQ(config_load_file(path, &cfg, &err), rc);
	snprintf(want, sizeof(want), "%s%s", path, suffix);
	CHECK(!strcmp(err.msg, want));
	CHECK(is_zeroed(&cfg));
}

/* A FIFO config: the open does not wait for the writer, the read does, and what a writer that
 * comes later sends is the config. */
static void load_from_fifo(const char *path)
{
	static const char text[] = "{\"machine-config\": {\"vcpu_count\": 3}}";
	pid_t pid = fork();
	int st = 0;

	CHECK(pid >= 0);
	if (pid == 0) {
		int fd;

		usleep(100 * 1000);
		fd = open(path, O_WRONLY);
		_exit(fd >= 0 && write(fd, text, sizeof(text) - 1) == sizeof(text) - 1 ? 0 : 1);
	}
	CHECK_EQ(config_load_file(path, &cfg, &err), 0);
	CHECK_EQ(cfg.machine.vcpu_count, 3);
	CHECK(!strcmp(cfg.source_path, path));
	config_free(&cfg);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_load_file_kinds(void)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/missing.json", tmpdir);
	load_fails(path, -ENOENT, ": No such file or directory");
	load_fails(tmpdir, -EISDIR, ": Is a directory");

	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	CHECK_EQ(mkfifo(path, 0600), 0);
	load_from_fifo(path);
	unlink(path);

	snprintf(path, sizeof(path), "%s/big.json", tmpdir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0 && ftruncate(fd, CONFIG_MAX_FILE + 1) == 0);
	close(fd);
	load_fails(path, -EFBIG, ": more than 1048576 bytes: File too large");
	unlink(path);

	snprintf(path, sizeof(path), "%s/noperm.json", tmpdir);
	write_file(path, "{}");
	chmod(path, 0);
	if (geteuid() != 0) /* root reads it anyway */
		load_fails(path, -EACCES, ": Permission denied");
	config_free(&cfg);
	unlink(path);
}

/* The tokens of one document: type, [start, end) (strings: between the quotes), size
 * (members, elements; 1 for a key), in document order; json_next skips a subtree. */
static void test_json_tokens(void)
{
	static const char text[] = " {\"a\": [1, \"x\", true, null, {\"b\": false}], \"c\": -2e3}";
	static const struct json_tok want[] = {
	    {JSON_OBJECT, 1, 53, 2}, {JSON_STRING, 3, 4, 1},   {JSON_ARRAY, 7, 41, 5},
	    {JSON_NUMBER, 8, 9, 0},  {JSON_STRING, 12, 13, 0}, {JSON_TRUE, 16, 20, 0},
	    {JSON_NULL, 22, 26, 0},  {JSON_OBJECT, 28, 40, 1}, {JSON_STRING, 30, 31, 1},
	    {JSON_FALSE, 34, 39, 0}, {JSON_STRING, 44, 45, 1}, {JSON_NUMBER, 48, 52, 0},
	};
	struct json_doc doc;

	CHECK_EQ(json_parse(&doc, "t", text, sizeof(text) - 1, &err), 0);
	CHECK_EQ(doc.n, sizeof(want) / sizeof(want[0]));
	for (unsigned i = 0; i < doc.n && i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK_EQ(doc.tok[i].type, want[i].type);
		CHECK_EQ(doc.tok[i].start, want[i].start);
		CHECK_EQ(doc.tok[i].end, want[i].end);
		CHECK_EQ(doc.tok[i].size, want[i].size);
	}
	CHECK_EQ(json_next(&doc, 2), 10u); /* the array and all it holds */
	CHECK_EQ(json_next(&doc, 0), 12u);
	json_free(&doc);
}

int main(void)
{
	RUN(test_json_tokens);
	RUN(test_full_config);
	RUN(test_defaults);
	RUN(test_nulls);
	RUN(test_syntax_top_level);
	RUN(test_syntax_separators);
	RUN(test_syntax_literals);
	RUN(test_syntax_strings);
	RUN(test_nul_bytes);
	RUN(test_line_col);
	RUN(test_escapes_decoded);
	RUN(test_integers);
	RUN(test_types);
	RUN(test_got_is_short);
	RUN(test_unknown_keys);
	RUN(test_not_supported);
	RUN(test_network);
	RUN(test_network_mac);
	RUN(test_network_duplicates);
	RUN(test_vsock);
	RUN(test_entropy);
	RUN(test_virtio_count);
	RUN(test_duplicates);
	RUN(test_drive_checks);
	RUN(test_drive_count);
	RUN(test_builtin);
	RUN(test_smt);
	RUN(test_limits);
	RUN(test_not_terminated);
	RUN(test_free);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_load_file_contents);
	RUN(test_load_file_kinds);
	CHECK_EQ(rmdir(tmpdir), 0);
	return unit_summary("test_config");
}
