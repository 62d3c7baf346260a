/* The config file: Firecracker-style JSON read into struct vm_config, strictly checked. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builtin_images.h"
#include "json.h"
#include "util.h"

#define PATH_BYTES_MAX 4095U /* PATH_MAX less the NUL */
#define PARTUUID_MAX   36U
#define KEYPATH_MAX    320U
#define DESCRIBE_MAX   256U

#define IMAGE_NAME(name) #name,
static const char *const builtin_names[] = {BUILTIN_IMAGES(IMAGE_NAME)};
#define N_BUILTINS (sizeof(builtin_names) / sizeof(builtin_names[0]))

struct ctx {
	const char *name;
	const struct json_doc *doc;
	struct vm_config *cfg;
	struct errbuf *err;
	unsigned vcpu_tok;	    /* token of machine-config.vcpu_count; 0 if absent */
	struct drive_config *drive; /* the drive being read */
	unsigned drive_id_tok;
	unsigned root_tok;
	struct net_config *net; /* the network interface being read */
	unsigned iface_tok, dev_tok, mac_tok;
	struct token_bucket_config *bucket; /* the token bucket being read */
};

/* A handler reads the value token val of the key whose dotted path is path. */
typedef int (*value_fn)(struct ctx *c, unsigned val, const char *path);

struct key_spec {
	const char *key;
	value_fn fn;
	bool required;
};

static int __attribute__((format(printf, 4, 5)))
verr(const struct ctx *c, unsigned tok, const char *path, const char *fmt, ...);

/* "NAME:LINE:COL: path: <message>" (without "path: " when path is empty), -EINVAL. */
static int verr(const struct ctx *c, unsigned tok, const char *path, const char *fmt, ...)
{
	char what[384];
	unsigned line, col;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	json_linecol(c->doc, tok, &line, &col);
	return err_set(c->err, -EINVAL, "%s:%u:%u: %s%s%s", c->name, line, col, path,
		       *path ? ": " : "", what);
}

/* "path: expected <what>, got <the value>" */
static int expected(const struct ctx *c, unsigned val, const char *path, const char *what)
{
	char got[DESCRIBE_MAX];

	json_describe(c->doc, val, got, sizeof(got));
	return verr(c, val, path, "expected %s, got %s", what, got);
}

static int oom(const struct ctx *c)
{
	return err_set(c->err, -ENOMEM, "%s: out of memory", c->name);
}

static int get_bool(const struct ctx *c, unsigned val, const char *path, bool *out)
{
	enum json_type t = c->doc->tok[val].type;

	if (t != JSON_TRUE && t != JSON_FALSE)
		return expected(c, val, path, "true or false");
	*out = t == JSON_TRUE;
	return 0;
}

static int get_uint(const struct ctx *c, unsigned val, const char *path, uint64_t min, uint64_t max,
		    uint64_t *out)
{
	char what[64];
	uint64_t v;

	if (json_u64(c->doc, val, &v) < 0 || v < min || v > max) {
		snprintf(what, sizeof(what), "an integer %llu..%llu", (unsigned long long)min,
			 (unsigned long long)max);
		return expected(c, val, path, what);
	}
	*out = v;
	return 0;
}

/* A string without NUL characters, malloc'd into *out; what names it in messages. */
static int get_str(const struct ctx *c, unsigned val, const char *path, const char *what,
		   char **out)
{
	char got[DESCRIBE_MAX];
	size_t n;
	char *s;

	if (c->doc->tok[val].type != JSON_STRING)
		return expected(c, val, path, what);
	s = json_str_dup(c->doc, val, &n);
	if (!s)
		return oom(c);
	if (memchr(s, '\0', n)) {
		free(s);
		json_describe(c->doc, val, got, sizeof(got));
		return verr(c, val, path, "expected %s without NUL characters, got %s", what, got);
	}
	*out = s;
	return 0;
}

static int get_path(const struct ctx *c, unsigned val, const char *path, char **out)
{
	int rc = get_str(c, val, path, "a non-empty path", out);
	size_t n;

	if (rc)
		return rc;
	n = strlen(*out);
	if (n == 0 || n > PATH_BYTES_MAX) {
		free(*out);
		*out = NULL;
		return expected(c, val, path,
				n ? "a path of at most 4095 bytes" : "a non-empty path");
	}
	return 0;
}

/* Firecracker enum keys where microvm implements one value (e.g. io_engine "Sync"). */
static int only_value(const struct ctx *c, unsigned val, const char *path, const char *ok)
{
	char what[64], got[DESCRIBE_MAX];

	if (json_str_eq(c->doc, val, ok))
		return 0;
	snprintf(what, sizeof(what), "\"%s\"", ok);
	if (c->doc->tok[val].type != JSON_STRING)
		return expected(c, val, path, what);
	json_describe(c->doc, val, got, sizeof(got));
	return verr(c, val, path, "%s is not supported by microvm (only %s)", got, what);
}

/* out = path + "." + key (a known key name), within KEYPATH_MAX */
static void sub_path(char *out, const char *path, const char *key)
{
	snprintf(out, KEYPATH_MAX, "%.*s.%.20s", (int)KEYPATH_MAX - 24, path, key);
}

static unsigned find_key(const struct json_doc *d, unsigned key, const struct key_spec *spec,
			 unsigned nspec)
{
	unsigned k;

	for (k = 0; k < nspec; k++)
		if (json_str_eq(d, key, spec[k].key))
			break;
	return k;
}

/* path + "." + the key as written (shortened by json_describe), for messages. */
static void key_path(const struct ctx *c, unsigned key, const char *path, char *out)
{
	char raw[DESCRIBE_MAX];
	size_t n, o = strlen(path);

	json_describe(c->doc, key, raw, sizeof(raw));
	n = strlen(raw);
	n = n >= 2 ? n - 2 : 0; /* without the quotes */
	if (o > KEYPATH_MAX - DESCRIBE_MAX - 2)
		o = KEYPATH_MAX - DESCRIBE_MAX - 2;
	memcpy(out, path, o);
	if (o)
		out[o++] = '.';
	memcpy(out + o, raw + 1, n);
	out[o + n] = '\0';
}

/* Check that obj is an object and call each member's handler; unknown keys, duplicates and
 * missing required keys are errors. A null value counts as absent for optional keys. */
static int walk_object(struct ctx *c, unsigned obj, const char *path, const struct key_spec *spec,
		       unsigned nspec)
{
	const struct json_doc *d = c->doc;
	char kpath[KEYPATH_MAX];
	uint32_t seen = 0;
	unsigned m, k, i = obj + 1;
	int rc;

	if (d->tok[obj].type != JSON_OBJECT)
		return expected(c, obj, path, "an object");
	for (m = 0; m < d->tok[obj].size; m++, i = json_next(d, i + 1)) {
		k = find_key(d, i, spec, nspec);
		key_path(c, i, path, kpath);
		if (k == nspec && d->tok[i].start == d->tok[i].end)
			return verr(c, i, path, "unknown key \"\"");
		if (k == nspec)
			return verr(c, i, kpath, "unknown key");
		if (seen & (1U << k))
			return verr(c, i, path, "duplicate key \"%s\"", spec[k].key);
		seen |= 1U << k;
		if (d->tok[i + 1].type == JSON_NULL && !spec[k].required)
			continue;
		rc = spec[k].fn(c, i + 1, kpath);
		if (rc)
			return rc;
	}
	for (k = 0; k < nspec; k++)
		if (spec[k].required && !(seen & (1U << k)))
			return verr(c, obj, path, "missing required key \"%s\"", spec[k].key);
	return 0;
}

/* ---- keys Firecracker has and microvm does not (null is accepted as "absent") ---- */

static int not_supported(struct ctx *c, unsigned val, const char *path)
{
	return verr(c, val - 1, path, "not supported by microvm");
}

/* ---- boot-source ---- */

static bool known_builtin(const char *name)
{
	for (size_t i = 0; i < N_BUILTINS; i++)
		if (!strcmp(name, builtin_names[i]))
			return true;
	return false;
}

static int unknown_builtin(const struct ctx *c, unsigned val, const char *path)
{
	char what[128] = "", got[DESCRIBE_MAX];
	size_t o = 0;

	for (size_t i = 0; i < N_BUILTINS && o < sizeof(what); i++)
		o += (size_t)snprintf(what + o, sizeof(what) - o, "%sbuiltin:%s",
				      i == 0		    ? ""
				      : i + 1 == N_BUILTINS ? " or "
							    : ", ",
				      builtin_names[i]);
	json_describe(c->doc, val, got, sizeof(got));
	return verr(c, val, path, "unknown built-in guest, expected %s, got %s", what, got);
}

static int on_kernel(struct ctx *c, unsigned val, const char *path)
{
	struct boot_config *b = &c->cfg->boot;
	char *s;
	int rc = get_path(c, val, path, &s);

	if (rc)
		return rc;
	if (strncmp(s, "builtin:", 8) != 0) {
		b->kernel_image_path = s;
		return 0;
	}
	if (!known_builtin(s + 8)) {
		free(s);
		return unknown_builtin(c, val, path);
	}
	memmove(s, s + 8, strlen(s + 8) + 1);
	b->builtin = s;
	return 0;
}

static int on_boot_args(struct ctx *c, unsigned val, const char *path)
{
	return get_str(c, val, path, "a string", &c->cfg->boot.boot_args);
}

static int on_initrd(struct ctx *c, unsigned val, const char *path)
{
	return get_path(c, val, path, &c->cfg->boot.initrd_path);
}

static const struct key_spec boot_keys[] = {
    {"kernel_image_path", on_kernel, false},
    {"boot_args", on_boot_args, false},
    {"initrd_path", on_initrd, false},
};

static int on_boot_source(struct ctx *c, unsigned val, const char *path)
{
	return walk_object(c, val, path, boot_keys, sizeof(boot_keys) / sizeof(boot_keys[0]));
}

/* ---- machine-config ---- */

static int on_vcpu_count(struct ctx *c, unsigned val, const char *path)
{
	uint64_t v = 0;
	int rc = get_uint(c, val, path, 1, CONFIG_MAX_VCPUS, &v);

	if (rc)
		return rc;
	c->cfg->machine.vcpu_count = (uint32_t)v;
	c->vcpu_tok = val;
	return 0;
}

static int on_mem_size(struct ctx *c, unsigned val, const char *path)
{
	return get_uint(c, val, path, CONFIG_MIN_MEM_MIB, CONFIG_MAX_MEM_MIB,
			&c->cfg->machine.mem_size_mib);
}

static int on_smt(struct ctx *c, unsigned val, const char *path)
{
	return get_bool(c, val, path, &c->cfg->machine.smt);
}

static int on_track_dirty(struct ctx *c, unsigned val, const char *path)
{
	bool on = false;
	int rc = get_bool(c, val, path, &on);

	if (!rc && on)
		return verr(c, val, path, "true is not supported by microvm (only false)");
	return rc;
}

static int on_none_only(struct ctx *c, unsigned val, const char *path)
{
	return only_value(c, val, path, "None");
}

static const struct key_spec machine_keys[] = {
    {"vcpu_count", on_vcpu_count, false},
    {"mem_size_mib", on_mem_size, false},
    {"smt", on_smt, false},
    {"track_dirty_pages", on_track_dirty, false},
    {"huge_pages", on_none_only, false},
    {"cpu_template", on_none_only, false},
};

static int on_machine(struct ctx *c, unsigned val, const char *path)
{
	const struct machine_config *m = &c->cfg->machine;
	char vpath[KEYPATH_MAX];
	int rc;

	rc =
	    walk_object(c, val, path, machine_keys, sizeof(machine_keys) / sizeof(machine_keys[0]));
	if (rc)
		return rc;
	/* as in Firecracker: with SMT, vCPUs come in sibling pairs */
	if (m->smt && m->vcpu_count > 1 && m->vcpu_count % 2) {
		sub_path(vpath, path, "vcpu_count");
		return expected(c, c->vcpu_tok, vpath, "1 or an even number when smt is true");
	}
	return 0;
}

/* ---- drives ---- */

/* An id (drive_id, iface_id, vsock_id): 1..max characters of [A-Za-z0-9_-]. */
static int get_id(const struct ctx *c, unsigned val, const char *path, size_t max, char **out)
{
	char what[48];
	size_t n;
	int rc;

	snprintf(what, sizeof(what), "1..%zu characters of [A-Za-z0-9_-]", max);
	rc = get_str(c, val, path, what, out);
	if (rc)
		return rc;
	n = strlen(*out);
	if (n < 1 || n > max ||
	    strspn(*out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != n)
		return expected(c, val, path, what);
	return 0;
}

static int on_drive_id(struct ctx *c, unsigned val, const char *path)
{
	c->drive_id_tok = val;
	return get_id(c, val, path, CONFIG_DRIVE_ID_MAX, &c->drive->drive_id);
}

static int on_path_on_host(struct ctx *c, unsigned val, const char *path)
{
	return get_path(c, val, path, &c->drive->path_on_host);
}

static int on_is_root(struct ctx *c, unsigned val, const char *path)
{
	c->root_tok = val;
	return get_bool(c, val, path, &c->drive->is_root_device);
}

static int on_is_read_only(struct ctx *c, unsigned val, const char *path)
{
	return get_bool(c, val, path, &c->drive->is_read_only);
}

static int on_partuuid(struct ctx *c, unsigned val, const char *path)
{
	const char *what = "a partition UUID (1..36 hex digits and '-')";
	int rc = get_str(c, val, path, what, &c->drive->partuuid);
	size_t n;

	if (rc)
		return rc;
	n = strlen(c->drive->partuuid);
	if (n < 1 || n > PARTUUID_MAX || strspn(c->drive->partuuid, "0123456789abcdefABCDEF-") != n)
		return expected(c, val, path, what);
	return 0;
}

static int on_cache_type(struct ctx *c, unsigned val, const char *path)
{
	if (json_str_eq(c->doc, val, "Unsafe"))
		c->drive->cache_type = CACHE_UNSAFE;
	else if (json_str_eq(c->doc, val, "Writeback"))
		c->drive->cache_type = CACHE_WRITEBACK;
	else
		return expected(c, val, path, "\"Unsafe\" or \"Writeback\"");
	return 0;
}

static int on_io_engine(struct ctx *c, unsigned val, const char *path)
{
	return only_value(c, val, path, "Sync");
}

static const struct key_spec drive_keys[] = {
    {"drive_id", on_drive_id, true},	  {"path_on_host", on_path_on_host, true},
    {"is_root_device", on_is_root, true}, {"is_read_only", on_is_read_only, false},
    {"partuuid", on_partuuid, false},	  {"cache_type", on_cache_type, false},
    {"io_engine", on_io_engine, false},	  {"rate_limiter", not_supported, false},
    {"socket", not_supported, false},
};

/* Drive k against drives 0..k-1: unique ids, at most one root device. */
static int drive_cross_check(const struct ctx *c, const char *path, unsigned k)
{
	const struct vm_config *cfg = c->cfg;
	const struct drive_config *d = &cfg->drives[k];
	char kpath[KEYPATH_MAX];

	for (unsigned j = 0; j < k; j++) {
		if (!strcmp(cfg->drives[j].drive_id, d->drive_id)) {
			sub_path(kpath, path, "drive_id");
			return verr(c, c->drive_id_tok, kpath,
				    "duplicate drive_id \"%s\" (also drives[%u])", d->drive_id, j);
		}
		if (cfg->drives[j].is_root_device && d->is_root_device) {
			sub_path(kpath, path, "is_root_device");
			return verr(c, c->root_tok, kpath,
				    "more than one root device (drives[%u] is one too)", j);
		}
	}
	return 0;
}

static int on_drives(struct ctx *c, unsigned val, const char *path)
{
	const struct json_tok *t = &c->doc->tok[val];
	char dpath[KEYPATH_MAX];
	unsigned k, i = val + 1;
	int rc;

	if (t->type != JSON_ARRAY)
		return expected(c, val, path, "an array");
	if (t->size > CONFIG_MAX_DRIVES)
		return verr(c, val, path, "expected at most %u drives, got %u", CONFIG_MAX_DRIVES,
			    t->size);
	for (k = 0; k < t->size; k++, i = json_next(c->doc, i)) {
		snprintf(dpath, sizeof(dpath), "%s[%u]", path, k);
		c->cfg->n_drives = k + 1;
		c->drive = &c->cfg->drives[k];
		c->drive_id_tok = c->root_tok = 0;
		rc = walk_object(c, i, dpath, drive_keys,
				 sizeof(drive_keys) / sizeof(drive_keys[0]));
		if (!rc)
			rc = drive_cross_check(c, dpath, k);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- network-interfaces ---- */

static int on_iface_id(struct ctx *c, unsigned val, const char *path)
{
	c->iface_tok = val;
	return get_id(c, val, path, CONFIG_IFACE_ID_MAX, &c->net->iface_id);
}

/* What the kernel accepts as an interface name (dev_valid_name), within IFNAMSIZ. */
static bool valid_ifname(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > CONFIG_IFNAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == ':' || s[i] <= ' ' || s[i] == 0x7f)
			return false;
	return true;
}

static int on_host_dev_name(struct ctx *c, unsigned val, const char *path)
{
	const char *what = "an interface name of 1..15 characters without '/', ':' or spaces";
	int rc = get_str(c, val, path, what, &c->net->host_dev_name);

	c->dev_tok = val;
	if (!rc && !valid_ifname(c->net->host_dev_name))
		return expected(c, val, path, what);
	return rc;
}

/* "xx:xx:xx:xx:xx:xx" (either case) into mac; false if malformed. */
static bool parse_mac(const char *s, uint8_t mac[6])
{
	if (strlen(s) != 17)
		return false;
	for (unsigned i = 0; i < 6; i++) {
		int hi = hex_digit(s[3 * i]), lo = hex_digit(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return false;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static int on_guest_mac(struct ctx *c, unsigned val, const char *path)
{
	const char *what = "a MAC address \"xx:xx:xx:xx:xx:xx\"";
	static const uint8_t zero[6];
	char *s = NULL;
	int rc = get_str(c, val, path, what, &s);
	bool ok;

	if (rc)
		return rc;
	ok = parse_mac(s, c->net->guest_mac);
	free(s);
	c->mac_tok = val;
	if (!ok)
		return expected(c, val, path, what);
	if ((c->net->guest_mac[0] & 1) || !memcmp(c->net->guest_mac, zero, 6))
		return expected(c, val, path, "a unicast, non-zero MAC address (first byte even)");
	c->net->has_mac = true;
	return 0;
}

static const struct key_spec net_keys[] = {
    {"iface_id", on_iface_id, true},	       {"host_dev_name", on_host_dev_name, true},
    {"guest_mac", on_guest_mac, false},	       {"rx_rate_limiter", not_supported, false},
    {"tx_rate_limiter", not_supported, false},
};

/* Interface k against 0..k-1: unique iface_id, host_dev_name and guest_mac. */
static int net_cross_check(const struct ctx *c, const char *path, unsigned k)
{
	const struct net_config *n = &c->cfg->nets[k];
	char kpath[KEYPATH_MAX];

	for (unsigned j = 0; j < k; j++) {
		const struct net_config *o = &c->cfg->nets[j];

		if (!strcmp(o->iface_id, n->iface_id)) {
			sub_path(kpath, path, "iface_id");
			return verr(c, c->iface_tok, kpath,
				    "duplicate iface_id \"%s\" (also network-interfaces[%u])",
				    n->iface_id, j);
		}
		if (!strcmp(o->host_dev_name, n->host_dev_name)) {
			sub_path(kpath, path, "host_dev_name");
			return verr(c, c->dev_tok, kpath,
				    "duplicate host_dev_name \"%s\" (also network-interfaces[%u])",
				    n->host_dev_name, j);
		}
		if (n->has_mac && o->has_mac && !memcmp(o->guest_mac, n->guest_mac, 6)) {
			sub_path(kpath, path, "guest_mac");
			return verr(c, c->mac_tok, kpath,
				    "duplicate guest_mac (also network-interfaces[%u])", j);
		}
	}
	return 0;
}

static int on_nets(struct ctx *c, unsigned val, const char *path)
{
	const struct json_tok *t = &c->doc->tok[val];
	char npath[KEYPATH_MAX];
	unsigned k, i = val + 1;
	int rc;

	if (t->type != JSON_ARRAY)
		return expected(c, val, path, "an array");
	if (t->size > CONFIG_MAX_NETS)
		return verr(c, val, path, "expected at most %u network interfaces, got %u",
			    CONFIG_MAX_NETS, t->size);
	for (k = 0; k < t->size; k++, i = json_next(c->doc, i)) {
		snprintf(npath, sizeof(npath), "%s[%u]", path, k);
		c->cfg->n_nets = k + 1;
		c->net = &c->cfg->nets[k];
		c->iface_tok = c->dev_tok = c->mac_tok = 0;
		rc = walk_object(c, i, npath, net_keys, sizeof(net_keys) / sizeof(net_keys[0]));
		if (!rc)
			rc = net_cross_check(c, npath, k);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- vsock ---- */

static int on_guest_cid(struct ctx *c, unsigned val, const char *path)
{
	uint64_t v = 0;
	int rc = get_uint(c, val, path, 3, 0xFFFFFFFEU, &v);

	c->cfg->vsock.guest_cid = (uint32_t)v;
	return rc;
}

static int on_uds_path(struct ctx *c, unsigned val, const char *path)
{
	char **out = &c->cfg->vsock.uds_path;
	int rc = get_path(c, val, path, out);

	if (!rc && strlen(*out) > CONFIG_UDS_PATH_MAX) {
		free(*out);
		*out = NULL;
		return expected(
		    c, val, path,
		    "a path of at most 96 bytes (a unix socket path with \"_PORT\" added)");
	}
	return rc;
}

static int on_vsock_id(struct ctx *c, unsigned val, const char *path)
{
	return get_id(c, val, path, CONFIG_IFACE_ID_MAX, &c->cfg->vsock.vsock_id);
}

static const struct key_spec vsock_keys[] = {
    {"guest_cid", on_guest_cid, true},
    {"uds_path", on_uds_path, true},
    {"vsock_id", on_vsock_id, false},
};

static int on_vsock(struct ctx *c, unsigned val, const char *path)
{
	c->cfg->vsock.enabled = true;
	return walk_object(c, val, path, vsock_keys, sizeof(vsock_keys) / sizeof(vsock_keys[0]));
}

/* ---- entropy ---- */

static int on_bucket_size(struct ctx *c, unsigned val, const char *path)
{
	return get_uint(c, val, path, 1, 1ULL << 32, &c->bucket->size);
}

static int on_bucket_burst(struct ctx *c, unsigned val, const char *path)
{
	return get_uint(c, val, path, 0, 1ULL << 32, &c->bucket->one_time_burst);
}

static int on_bucket_refill(struct ctx *c, unsigned val, const char *path)
{
	return get_uint(c, val, path, 1, 1ULL << 32, &c->bucket->refill_time_ms);
}

static const struct key_spec bucket_keys[] = {
    {"size", on_bucket_size, true},
    {"one_time_burst", on_bucket_burst, false},
    {"refill_time", on_bucket_refill, true},
};

static int on_bandwidth(struct ctx *c, unsigned val, const char *path)
{
	c->bucket = &c->cfg->entropy.bandwidth;
	return walk_object(c, val, path, bucket_keys, sizeof(bucket_keys) / sizeof(bucket_keys[0]));
}

static const struct key_spec limiter_keys[] = {
    {"bandwidth", on_bandwidth, false},
    {"ops", not_supported, false},
};

static int on_rate_limiter(struct ctx *c, unsigned val, const char *path)
{
	return walk_object(c, val, path, limiter_keys,
			   sizeof(limiter_keys) / sizeof(limiter_keys[0]));
}

static const struct key_spec entropy_keys[] = {
    {"rate_limiter", on_rate_limiter, false},
};

static int on_entropy(struct ctx *c, unsigned val, const char *path)
{
	c->cfg->entropy.enabled = true;
	return walk_object(c, val, path, entropy_keys,
			   sizeof(entropy_keys) / sizeof(entropy_keys[0]));
}

/* ---- the whole file ---- */

static const struct key_spec top_keys[] = {
    {"boot-source", on_boot_source, false}, {"machine-config", on_machine, false},
    {"drives", on_drives, false},	    {"balloon", not_supported, false},
    {"cpu-config", not_supported, false},   {"logger", not_supported, false},
    {"metrics", not_supported, false},	    {"mmds-config", not_supported, false},
    {"network-interfaces", on_nets, false}, {"vsock", on_vsock, false},
    {"entropy", on_entropy, false},
};

static int read_document(struct ctx *c)
{
	struct vm_config *cfg = c->cfg;
	unsigned n_virtio;
	int rc;

	cfg->machine.vcpu_count = 1;
	cfg->machine.mem_size_mib = 128;
	rc = walk_object(c, 0, "", top_keys, sizeof(top_keys) / sizeof(top_keys[0]));
	if (rc)
		return rc;
	n_virtio = cfg->n_drives + cfg->n_nets + cfg->vsock.enabled + cfg->entropy.enabled;
	if (n_virtio > CONFIG_MAX_VIRTIO)
		return verr(c, 0, "",
			    "expected at most %u virtio devices (drives, network-interfaces, "
			    "vsock, entropy together), got %u",
			    CONFIG_MAX_VIRTIO, n_virtio);
	if (!cfg->boot.kernel_image_path && !cfg->boot.builtin) {
		cfg->boot.builtin = strdup("hello");
		if (!cfg->boot.builtin)
			return oom(c);
	}
	return 0;
}

int config_parse(const char *name, const char *text, size_t len, struct vm_config *cfg,
		 struct errbuf *err)
{
	struct json_doc doc;
	struct ctx c = {.doc = &doc, .cfg = cfg, .err = err};
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	c.name = name ? name : "config";
	if (len > CONFIG_MAX_FILE)
		return err_set(err, -EINVAL, "%s: %zu bytes, more than the %u-byte limit", c.name,
			       len, CONFIG_MAX_FILE);
	rc = json_parse(&doc, c.name, text, len, err);
	if (rc)
		return rc;
	cfg->source_path = strdup(c.name);
	rc = cfg->source_path ? read_document(&c) : oom(&c);
	json_free(&doc);
	if (rc)
		config_free(cfg);
	return rc;
}

/* Append what fd has until end of file, at most CONFIG_MAX_FILE bytes; fd may be a stream
 * (pipe, FIFO, terminal, socket) in either blocking mode: poll first, so a FIFO with no writer
 * yet waits for one instead of reading end of file (poll reports POLLHUP only once a writer has
 * come and gone). Signals during the wait end the launcher (launch_guard_install). */
static int read_all(int fd, const char *name, char *buf, size_t *len, struct errbuf *err)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	size_t n = 0;

	while (n <= CONFIG_MAX_FILE) {
		ssize_t r;

		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return err_sys(err, -errno, "%s", name);
		r = read(fd, buf + n, CONFIG_MAX_FILE + 1 - n);
		if (r == 0)
			break;
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return err_sys(err, -errno, "%s", name);
		n += (size_t)r;
	}
	if (n > CONFIG_MAX_FILE)
		return err_sys(err, -EFBIG, "%s: more than %u bytes", name, CONFIG_MAX_FILE);
	*len = n;
	return 0;
}

/* Read a config of at most CONFIG_MAX_FILE bytes into a malloc'd buffer: a regular file or a
 * stream read to its end. Directories are refused. */
static int read_file(int fd, const char *name, char **out, size_t *len, struct errbuf *err)
{
	struct stat st;
	char *buf;
	int rc;

	if (fstat(fd, &st) < 0)
		return err_sys(err, -errno, "%s", name);
	if (S_ISDIR(st.st_mode))
		return err_sys(err, -EISDIR, "%s", name);
	if (S_ISREG(st.st_mode) && st.st_size > (off_t)CONFIG_MAX_FILE)
		return err_sys(err, -EFBIG, "%s: more than %u bytes", name, CONFIG_MAX_FILE);
	buf = malloc(CONFIG_MAX_FILE + 1);
	if (!buf)
		return err_sys(err, -ENOMEM, "%s", name);
	rc = read_all(fd, name, buf, len, err);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

int config_load_file(const char *path, struct vm_config *cfg, struct errbuf *err)
{
	bool is_stdin = strcmp(path, "-") == 0;
	const char *name = is_stdin ? CONFIG_STDIN_NAME : path;
	char *text = NULL;
	size_t len = 0;
	int fd, rc;

	memset(cfg, 0, sizeof(*cfg));
	/* O_NONBLOCK: opening a FIFO must not wait for a writer (read_all waits, interruptibly). */
	fd = is_stdin ? 0 : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return err_sys(err, -errno, "%s", path);
	rc = read_file(fd, name, &text, &len, err);
	if (!is_stdin)
		close(fd);
	if (rc)
		return rc;
	rc = config_parse(name, text, len, cfg, err);
	free(text);
	return rc;
}

void config_free(struct vm_config *cfg)
{
	free(cfg->source_path);
	free(cfg->boot.kernel_image_path);
	free(cfg->boot.builtin);
	free(cfg->boot.boot_args);
	free(cfg->boot.initrd_path);
	for (unsigned i = 0; i < CONFIG_MAX_DRIVES; i++) {
		free(cfg->drives[i].drive_id);
		free(cfg->drives[i].path_on_host);
		free(cfg->drives[i].partuuid);
	}
	for (unsigned i = 0; i < CONFIG_MAX_NETS; i++) {
		free(cfg->nets[i].iface_id);
		free(cfg->nets[i].host_dev_name);
	}
	free(cfg->vsock.vsock_id);
	free(cfg->vsock.uds_path);
	memset(cfg, 0, sizeof(*cfg));
}
