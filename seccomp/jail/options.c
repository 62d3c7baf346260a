/* The jailer's command-line options: one table entry (key, parser, expected form) per
 * --jail-KEY, in the style of the config's key_spec tables (vmm/config.c). */
#include "../jail.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* --- value forms --- */

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* BYTES with an optional K/M/G/T suffix (powers of 1024). "max" gives UINT64_MAX. */
static int parse_bytes(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s)
		return -EINVAL;
	if (strcmp(s, "max") == 0) {
		*out = UINT64_MAX;
		return 0;
	}
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end) {
		static const char suf[] = "KMGT";
		const char *p = memchr(suf, toupper((unsigned char)end[0]), 4);

		if (!p || end[1] != 0)
			return -EINVAL;
		shift = 10U * (unsigned)(p - suf + 1);
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_cpu_max(const char *s, char *out, size_t cap)
{
	char quota[24], period[24], extra[2];
	uint64_t q = 0, p = 100000;
	int n;

	if (!s)
		return -EINVAL;
	n = sscanf(s, " %23s %23s %1s", quota, period, extra);
	if (n < 1 || n > 2)
		return -EINVAL;
	if (strcmp(quota, "max") != 0 && (parse_u64(quota, UINT64_MAX / 2, &q) < 0 || q < 1000))
		return -EINVAL;
	if (n == 2 && (parse_u64(period, 1000000, &p) < 0 || p < 1000))
		return -EINVAL;
	if (strcmp(quota, "max") == 0)
		snprintf(out, cap, "max %llu", (unsigned long long)p);
	else
		snprintf(out, cap, "%llu %llu", (unsigned long long)q, (unsigned long long)p);
	return 0;
}

static int copy_path(char *dst, size_t cap, const char *v)
{
	if (!v || !*v || strlen(v) >= cap)
		return -EINVAL;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

/* --- one parser per option: 0, or -EINVAL for a bad or missing value --- */

/* A uid or gid: 0..4294967294 (-1 means "unchanged" to the kernel). */
static int parse_id(const char *v, uint32_t *id, bool *set)
{
	uint64_t n;
	int rc = parse_u64(v, 4294967294U, &n);

	if (rc == 0) {
		*id = (uint32_t)n;
		*set = true;
	}
	return rc;
}

static int on_uid(struct jail_config *jc, const char *v)
{
	uint32_t id;
	int rc = parse_id(v, &id, &jc->uid_set);

	jc->uid = rc == 0 ? (uid_t)id : jc->uid;
	return rc;
}

static int on_gid(struct jail_config *jc, const char *v)
{
	uint32_t id;
	int rc = parse_id(v, &id, &jc->gid_set);

	jc->gid = rc == 0 ? (gid_t)id : jc->gid;
	return rc;
}

static int on_netns(struct jail_config *jc, const char *v)
{
	return copy_path(jc->netns, sizeof(jc->netns), v);
}

static int on_cgroup(struct jail_config *jc, const char *v)
{
	int rc = copy_path(jc->cgroup, sizeof(jc->cgroup), v);

	if (rc == 0 && (strstr(v, "/../") || strncmp(v, "../", 3) == 0 || strcmp(v, "..") == 0))
		rc = -EINVAL;
	return rc;
}

static int on_cpu_max(struct jail_config *jc, const char *v)
{
	return parse_cpu_max(v, jc->cpu_max, sizeof(jc->cpu_max));
}

static int on_memory_max(struct jail_config *jc, const char *v)
{
	uint64_t n;
	int rc = parse_bytes(v, &n);

	if (rc == 0 && n == UINT64_MAX)
		snprintf(jc->memory_max, sizeof(jc->memory_max), "max");
	else if (rc == 0)
		snprintf(jc->memory_max, sizeof(jc->memory_max), "%llu", (unsigned long long)n);
	return rc;
}

/* A count >= 1. */
static int parse_count(const char *v, uint64_t *out)
{
	int rc = parse_u64(v, UINT64_MAX - 1, out);

	return rc == 0 && *out == 0 ? -EINVAL : rc;
}

static int on_nofile(struct jail_config *jc, const char *v)
{
	int rc = parse_count(v, &jc->nofile);

	jc->nofile_set |= rc == 0;
	return rc;
}

static int on_nproc(struct jail_config *jc, const char *v)
{
	int rc = parse_count(v, &jc->nproc);

	jc->nproc_set |= rc == 0;
	return rc;
}

static int on_fsize(struct jail_config *jc, const char *v)
{
	uint64_t n;
	int rc = parse_bytes(v, &n);

	if (rc == 0) {
		jc->fsize = n == UINT64_MAX ? (uint64_t)RLIM_INFINITY : n;
		jc->fsize_set = true;
	}
	return rc;
}

/* --- the table --- */

typedef int (*jail_opt_fn)(struct jail_config *jc, const char *value);

struct jail_opt_spec {
	const char *key;  /* after "--jail-" */
	jail_opt_fn fn;	  /* called with the value (NULL when none was given) */
	const char *what; /* the expected form, for the message */
};

#define BYTES_OR_MAX "bytes (K/M/G/T suffixes) or \"max\""

static const struct jail_opt_spec jail_opts[] = {
    {"uid", on_uid, "an id 0..4294967294"},
    {"gid", on_gid, "an id 0..4294967294"},
    {"netns", on_netns, "a network namespace path"},
    {"cgroup", on_cgroup, "a cgroup v2 directory"},
    {"cpu-max", on_cpu_max,
     "\"QUOTA [PERIOD]\" in microseconds (QUOTA \"max\" or >= 1000, PERIOD 1000..1000000)"},
    {"memory-max", on_memory_max, BYTES_OR_MAX},
    {"nofile", on_nofile, "a count >= 1"},
    {"nproc", on_nproc, "a count >= 1"},
    {"fsize", on_fsize, BYTES_OR_MAX},
};

static const struct jail_opt_spec *find_opt(const char *key)
{
	for (size_t i = 0; i < sizeof(jail_opts) / sizeof(jail_opts[0]); i++)
		if (strcmp(jail_opts[i].key, key) == 0)
			return &jail_opts[i];
	return NULL;
}

int jail_parse_option(struct jail_config *jc, const char *name, const char *value,
		      struct errbuf *err)
{
	const struct jail_opt_spec *o;
	char key[32];
	const char *eq;
	size_t klen;

	while (*name == '-')
		name++;
	eq = strchr(name, '=');
	if (eq && !value)
		value = eq + 1;
	klen = eq ? (size_t)(eq - name) : strlen(name);
	if (klen >= sizeof(key) || strncmp(name, "jail", 4) != 0)
		return -ENOENT;
	memcpy(key, name, klen);
	key[klen] = 0;
	if (strcmp(key, "jail") == 0) {
		if (value)
			return err_set(err, -EINVAL, "--jail takes no value (got \"%s\")", value);
		jc->enabled = true;
		return 0;
	}
	o = strncmp(key, "jail-", 5) == 0 ? find_opt(key + 5) : NULL;
	if (!o)
		return -ENOENT;
	if (!value)
		return err_set(err, -EINVAL, "--%s needs a value: %s", key, o->what);
	if (o->fn(jc, value) < 0)
		return err_set(err, -EINVAL, "--%s: expected %s, got \"%s\"", key, o->what, value);
	jc->enabled = true;
	return 0;
}

int jail_check_config(const struct jail_config *jc, struct errbuf *err)
{
	if (!jc->cgroup[0] && jc->cpu_max[0])
		return err_set(err, -EINVAL, "--jail-cpu-max needs --jail-cgroup");
	if (!jc->cgroup[0] && jc->memory_max[0])
		return err_set(err, -EINVAL, "--jail-memory-max needs --jail-cgroup");
	return 0;
}
