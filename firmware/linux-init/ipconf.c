/* `ip=` parsing for the guest init: the kernel's nfsroot syntax (static) and ADDR/PREFIX. */
#include "ipconf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define WORD_MAX 512

/* Step *s to the next word (split at spaces, tabs and newlines) before any word "--": true
 * with *word and *n set, false at the end or at "--". */
static bool next_word(const char **s, const char **word, size_t *n)
{
	*s += strspn(*s, " \t\n");
	*word = *s;
	*n = strcspn(*s, " \t\n");
	*s += *n;
	return *n > 0 && !(*n == 2 && !strncmp(*word, "--", 2));
}

/* Copy the last word starting with key into out; 1 if found, 0 if not, -EINVAL if too long. */
static int last_word(const char *s, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key), n;
	const char *w;
	int found = 0;

	while (next_word(&s, &w, &n)) {
		if (n >= klen && !strncmp(w, key, klen)) {
			if (n - klen >= cap)
				return -EINVAL;
			memcpy(out, w + klen, n - klen);
			out[n - klen] = '\0';
			found = 1;
		}
	}
	return found;
}

int cmdline_has(const char *cmdline, const char *word)
{
	char buf[2];
	size_t n = strlen(word);
	char key[64];

	if (n + 1 >= sizeof(key))
		return 0;
	memcpy(key, word, n + 1);
	return last_word(cmdline, key, buf, sizeof(buf)) == 1 && buf[0] == '\0';
}

/* Whether the n bytes at s name module, '-' and '_' taken as the same. */
static int same_module(const char *s, size_t n, const char *module)
{
	for (size_t i = 0; i < n; i++, module++) {
		char a = s[i] == '-' ? '_' : s[i], b = *module == '-' ? '_' : *module;

		if (!b || a != b)
			return 0;
	}
	return *module == '\0';
}

int cmdline_module_params(const char *cmdline, const char *module, char *out, size_t cap)
{
	size_t len = 0, n;
	const char *w;

	if (cap == 0)
		return -ENAMETOOLONG;
	out[0] = '\0';
	while (next_word(&cmdline, &w, &n)) {
		const char *dot = memchr(w, '.', n);
		size_t plen = dot ? n - (size_t)(dot + 1 - w) : 0;

		if (plen == 0 || !same_module(w, (size_t)(dot - w), module))
			continue;
		if (len + (len > 0) + plen >= cap)
			return -ENAMETOOLONG;
		if (len > 0)
			out[len++] = ' ';
		memcpy(out + len, dot + 1, plen);
		len += plen;
		out[len] = '\0';
	}
	return (int)len;
}

/* Skip one word the way the kernel's next_arg does; returns what follows it. */
static const char *skip_kernel_word(const char *s)
{
	bool quoted = false;

	for (; *s && (quoted || !isspace((unsigned char)*s)); s++)
		if (*s == '"')
			quoted = !quoted;
	return s;
}

int cmdline_command_words(const char *cmdline)
{
	const char *s = cmdline;
	bool after = false;
	int n = 0;

	for (;;) {
		const char *end;

		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			return n;
		end = skip_kernel_word(s);
		if (after)
			n++;
		else if (end - s == 2 && !strncmp(s, "--", 2))
			after = true;
		s = end;
	}
}

static int parse_addr(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (!*s) {
		*out = 0;
		return 0;
	}
	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*out = a.s_addr;
	return 0;
}

static uint32_t prefix_mask(unsigned prefix)
{
	return htonl(prefix ? 0xFFFFFFFFU << (32 - prefix) : 0);
}

static int parse_cidr(char *v, struct ipconf *c)
{
	char *slash = strchr(v, '/'), *end;
	unsigned long prefix;

	*slash = '\0';
	errno = 0;
	prefix = strtoul(slash + 1, &end, 10);
	if (!slash[1] || *end || errno || prefix > 32 || parse_addr(v, &c->addr) || !c->addr)
		return -EINVAL;
	c->netmask = prefix_mask((unsigned)prefix);
	return 1;
}

/* Split v at ':' into at most 7 fields (empty when absent); -EINVAL for more. */
static int split_fields(char *v, char *f[7])
{
	int n = 0;

	for (int i = 0; i < 7; i++)
		f[i] = "";
	for (char *p = v;; n++) {
		char *colon = strchr(p, ':');

		if (n == 7)
			return -EINVAL;
		f[n] = p;
		if (!colon)
			break;
		*colon = '\0';
		p = colon + 1;
	}
	return 0;
}

static int parse_fields(char *v, struct ipconf *c)
{
	char *f[7];
	uint32_t server;

	if (split_fields(v, f) || parse_addr(f[0], &c->addr) || !c->addr ||
	    parse_addr(f[1], &server) || parse_addr(f[2], &c->gateway) ||
	    parse_addr(f[3], &c->netmask))
		return -EINVAL;
	if (strlen(f[4]) >= sizeof(c->hostname) || strlen(f[5]) >= sizeof(c->device))
		return -EINVAL;
	if (*f[6] && strcmp(f[6], "off") && strcmp(f[6], "none") && strcmp(f[6], "static"))
		return -EINVAL; /* dhcp, bootp, rarp, both, any, on: we have no client */
	strcpy(c->hostname, f[4]);
	if (*f[5])
		strcpy(c->device, f[5]);
	if (!c->netmask)
		c->netmask = prefix_mask(24);
	return 1;
}

int ipconf_parse(const char *cmdline, struct ipconf *c)
{
	char v[WORD_MAX];
	int rc;

	memset(c, 0, sizeof(*c));
	strcpy(c->device, "eth0");
	rc = last_word(cmdline, "ip=", v, sizeof(v));
	if (rc <= 0)
		return rc;
	if (!strcmp(v, "off") || !strcmp(v, "none"))
		return 0;
	return strchr(v, '/') ? parse_cidr(v, c) : parse_fields(v, c);
}
