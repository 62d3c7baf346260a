/* Strict RFC 8259 JSON in one pass: every byte checked (line:column errors), tokens emitted. */
#include "json.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define EXCERPT_MAX 40U /* bytes of a value or lexeme shown in a message */

/* The pass: a recursive descent over the text that rejects anything RFC 8259 does not allow
 * (reporting the offset) and appends a token per value and key. */
struct vstate {
	const unsigned char *s;
	size_t len;
	size_t pos;
	unsigned depth;
	struct json_tok *tok; /* grows by doubling, up to JSON_MAX_TOKENS */
	unsigned ntok, cap;
	bool oom;
	size_t err_pos;
	char msg[200];
};

static int v_value(struct vstate *v);

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_word_char(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
	       c == '+' || c == '-' || c == '_';
}

/* Length of the number/literal-like lexeme at pos (for messages and number checks). */
static size_t word_len(const struct vstate *v, size_t pos)
{
	size_t n = 0;

	while (pos + n < v->len && is_word_char(v->s[pos + n]))
		n++;
	return n;
}

/* Bytes of s[0..n) to show: at most EXCERPT_MAX, not splitting a UTF-8 sequence. */
static size_t excerpt_cut(const unsigned char *s, size_t n)
{
	size_t cut = n;

	if (cut <= EXCERPT_MAX)
		return cut;
	cut = EXCERPT_MAX;
	while (cut > 0 && (s[cut] & 0xC0) == 0x80)
		cut--;
	return cut;
}

/* Describe what is at v->pos, for "found ..." in messages. */
static void describe_at(const struct vstate *v, char *buf, size_t cap)
{
	unsigned char c;
	size_t n, cut;

	if (v->pos >= v->len) {
		snprintf(buf, cap, "end of file");
		return;
	}
	c = v->s[v->pos];
	n = word_len(v, v->pos);
	cut = excerpt_cut(v->s + v->pos, n);
	if (c == '"')
		snprintf(buf, cap, "a string");
	else if (v->len - v->pos >= 3 && !memcmp(v->s + v->pos, "\xEF\xBB\xBF", 3))
		snprintf(buf, cap, "a UTF-8 byte order mark");
	else if (n > 0)
		snprintf(buf, cap, "'%.*s%s'", (int)cut, (const char *)v->s + v->pos,
			 cut < n ? "..." : "");
	else if (c == 0)
		snprintf(buf, cap, "a NUL byte");
	else if (c < 0x20 || c == 0x7F)
		snprintf(buf, cap, "control character U+%04X", c);
	else if (c >= 0x80)
		snprintf(buf, cap, "byte 0x%02X", c);
	else if (c == '\'')
		snprintf(buf, cap, "\"'\"");
	else
		snprintf(buf, cap, "'%c'", c);
}

static int __attribute__((format(printf, 3, 4)))
fail(struct vstate *v, size_t pos, const char *fmt, ...)
{
	va_list ap;

	v->err_pos = pos;
	va_start(ap, fmt);
	vsnprintf(v->msg, sizeof(v->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* "<expected>, found <what is at pos>" */
static int fail_found(struct vstate *v, const char *expected)
{
	char found[64];

	describe_at(v, found, sizeof(found));
	return fail(v, v->pos, "%s, found %s", expected, found);
}

static void skip_ws(struct vstate *v)
{
	while (v->pos < v->len) {
		unsigned char c = v->s[v->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			return;
		v->pos++;
	}
}

/* Append a token of type starting at start (end and size filled in by the caller); returns
 * its index, or -1. */
static int new_token(struct vstate *v, enum json_type type, size_t start)
{
	if (v->ntok >= JSON_MAX_TOKENS)
		return fail(v, v->pos, "too many JSON values (more than %u)", JSON_MAX_TOKENS);
	if (v->ntok == v->cap) {
		unsigned cap = v->cap ? v->cap * 2 : 64;
		struct json_tok *t = realloc(v->tok, cap * sizeof(*t));

		if (!t) {
			v->oom = true;
			return fail(v, v->pos, "out of memory");
		}
		v->tok = t;
		v->cap = cap;
	}
	v->tok[v->ntok] = (struct json_tok){.type = type, .start = (unsigned)start};
	return (int)v->ntok++;
}

/* Length of the valid UTF-8 sequence at p (n bytes available), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xBF;
	size_t need, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		need = 1;
	else if (c >= 0xE0 && c <= 0xEF)
		need = 2;
	else if (c >= 0xF0 && c <= 0xF4)
		need = 3;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0; /* overlong */
	else if (c == 0xED)
		hi = 0x9F; /* UTF-16 surrogates */
	else if (c == 0xF0)
		lo = 0x90; /* overlong */
	else if (c == 0xF4)
		hi = 0x8F; /* above U+10FFFF */
	if (n <= need || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i <= need; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	return need + 1;
}

/* The 4 hex digits after "\u" at p (n bytes available), or -1. */
static long hex4(const unsigned char *p, size_t n)
{
	long cp = 0;
	int i, h;

	if (n < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		h = hex_digit(p[i]);
		if (h < 0)
			return -1;
		cp = cp * 16 + h;
	}
	return cp;
}

/* A \u escape at v->pos (the backslash): 6 bytes, or 12 for a surrogate pair. */
static int v_unicode_escape(struct vstate *v)
{
	size_t at = v->pos;
	long cp = hex4(v->s + at + 2, v->len - at - 2), lo;

	if (cp < 0)
		return fail(v, at, "invalid \\u escape in string: expected 4 hex digits");
	v->pos += 6;
	if (cp >= 0xDC00 && cp <= 0xDFFF)
		return fail(v, at, "invalid \\u escape in string: unpaired UTF-16 surrogate");
	if (cp < 0xD800 || cp > 0xDBFF)
		return 0;
	lo = -1;
	if (v->pos + 1 < v->len && v->s[v->pos] == '\\' && v->s[v->pos + 1] == 'u')
		lo = hex4(v->s + v->pos + 2, v->len - v->pos - 2);
	if (lo < 0xDC00 || lo > 0xDFFF)
		return fail(v, at, "invalid \\u escape in string: unpaired UTF-16 surrogate");
	v->pos += 6;
	return 0;
}

static int v_escape(struct vstate *v)
{
	unsigned char c = v->s[v->pos + 1];

	if (c == 'u')
		return v_unicode_escape(v);
	if (!c || !strchr("\"\\/bfnrt", c)) {
		if (c > 0x20 && c < 0x7F)
			return fail(v, v->pos, "invalid escape '\\%c' in string", c);
		return fail(v, v->pos, "invalid escape in string");
	}
	v->pos += 2;
	return 0;
}

/* A string at v->pos (the opening quote); returns its token's index, or -1. */
static int v_string(struct vstate *v)
{
	size_t start = v->pos, n;
	int t = new_token(v, JSON_STRING, start + 1);

	if (t < 0)
		return -1;
	v->pos++;
	while (v->pos < v->len) {
		unsigned char c = v->s[v->pos];

		if (c == '"') {
			v->tok[t].end = (unsigned)v->pos++;
			return t;
		}
		if (c == '\\' && v->pos + 1 >= v->len)
			break;
		if (c == '\\') {
			if (v_escape(v) < 0)
				return -1;
			continue;
		}
		if (c < 0x20)
			return fail(v, v->pos, "unescaped control character U+%04X in string", c);
		n = utf8_seq(v->s + v->pos, v->len - v->pos);
		if (n == 0)
			return fail(v, v->pos, "invalid UTF-8 in string (byte 0x%02X)", c);
		v->pos += n;
	}
	return fail(v, start, "unterminated string");
}

/* Why the number lexeme s[0..n) is invalid, or NULL when it is a valid JSON number. */
static const char *number_problem(const unsigned char *s, size_t n)
{
	size_t p = 0;

	if (s[p] == '-')
		p++;
	if (p == n || !is_digit(s[p]))
		return "expected a digit after '-'";
	if (s[p] == '0' && p + 1 < n && is_digit(s[p + 1]))
		return "leading zeros are not allowed";
	while (p < n && is_digit(s[p]))
		p++;
	if (p < n && s[p] == '.') {
		if (++p == n || !is_digit(s[p]))
			return "expected a digit after '.'";
		while (p < n && is_digit(s[p]))
			p++;
	}
	if (p < n && (s[p] == 'e' || s[p] == 'E')) {
		if (++p < n && (s[p] == '+' || s[p] == '-'))
			p++;
		if (p == n || !is_digit(s[p]))
			return "expected a digit in the exponent";
		while (p < n && is_digit(s[p]))
			p++;
	}
	return p == n ? NULL : "unexpected character";
}

static int v_number(struct vstate *v)
{
	size_t n = word_len(v, v->pos), cut = excerpt_cut(v->s + v->pos, n);
	const char *why = number_problem(v->s + v->pos, n);

	int t;

	if (why)
		return fail(v, v->pos, "invalid number '%.*s%s': %s", (int)cut,
			    (const char *)v->s + v->pos, cut < n ? "..." : "", why);
	t = new_token(v, JSON_NUMBER, v->pos);
	if (t < 0)
		return -1;
	v->pos += n;
	v->tok[t].end = (unsigned)v->pos;
	return 0;
}

static int v_literal(struct vstate *v)
{
	size_t n = word_len(v, v->pos);
	const char *w = (const char *)v->s + v->pos;
	enum json_type type;
	int t;

	if (n == 4 && !memcmp(w, "true", 4))
		type = JSON_TRUE;
	else if (n == 5 && !memcmp(w, "false", 5))
		type = JSON_FALSE;
	else if (n == 4 && !memcmp(w, "null", 4))
		type = JSON_NULL;
	else
		return fail_found(v, "expected a value");
	t = new_token(v, type, v->pos);
	if (t < 0)
		return -1;
	v->pos += n;
	v->tok[t].end = (unsigned)v->pos;
	return 0;
}

/* '{' or '[' at v->pos: a container token; returns its index, or -1. */
static int v_open(struct vstate *v, enum json_type type)
{
	int t;

	if (++v->depth > JSON_MAX_DEPTH)
		return fail(v, v->pos, "nesting deeper than %u levels", JSON_MAX_DEPTH);
	t = new_token(v, type, v->pos);
	if (t < 0)
		return -1;
	v->pos++;
	skip_ws(v);
	return t;
}

/* The closing bracket at v->pos ends container t of size members or elements. */
static int v_close(struct vstate *v, int t, unsigned size)
{
	v->pos++;
	v->depth--;
	v->tok[t].end = (unsigned)v->pos;
	v->tok[t].size = size;
	return 0;
}

/* One member: a key (its token's size is 1: the value follows) and its value. */
static int v_member(struct vstate *v, bool first)
{
	int key;

	skip_ws(v);
	if (v->pos >= v->len || v->s[v->pos] != '"')
		return fail_found(v, first ? "expected a string key or '}'"
					   : "expected a string key after ','");
	key = v_string(v);
	if (key < 0)
		return -1;
	v->tok[key].size = 1;
	skip_ws(v);
	if (v->pos >= v->len || v->s[v->pos] != ':')
		return fail_found(v, "expected ':' after object key");
	v->pos++;
	skip_ws(v);
	return v_value(v);
}

static int v_object(struct vstate *v)
{
	int t = v_open(v, JSON_OBJECT);
	unsigned n = 0;

	if (t < 0)
		return -1;
	if (v->pos < v->len && v->s[v->pos] == '}')
		return v_close(v, t, 0);
	for (;; n++) {
		if (v_member(v, n == 0) < 0)
			return -1;
		skip_ws(v);
		if (v->pos < v->len && v->s[v->pos] == '}')
			return v_close(v, t, n + 1);
		if (v->pos >= v->len || v->s[v->pos] != ',')
			return fail_found(v, "expected ',' or '}' after object member");
		v->pos++;
	}
}

static int v_array(struct vstate *v)
{
	int t = v_open(v, JSON_ARRAY);
	unsigned n = 0;

	if (t < 0)
		return -1;
	if (v->pos < v->len && v->s[v->pos] == ']')
		return v_close(v, t, 0);
	for (;; n++) {
		skip_ws(v);
		if (v_value(v) < 0)
			return -1;
		skip_ws(v);
		if (v->pos < v->len && v->s[v->pos] == ']')
			return v_close(v, t, n + 1);
		if (v->pos >= v->len || v->s[v->pos] != ',')
			return fail_found(v, "expected ',' or ']' after array element");
		v->pos++;
	}
}

static int v_value(struct vstate *v)
{
	unsigned char c = v->pos < v->len ? v->s[v->pos] : 0;

	if (v->pos >= v->len)
		return fail_found(v, "expected a value");
	if (c == '{')
		return v_object(v);
	if (c == '[')
		return v_array(v);
	if (c == '"')
		return v_string(v) < 0 ? -1 : 0;
	if (c == '-' || is_digit(c))
		return v_number(v);
	return v_literal(v);
}

/* The whole text: one object, surrounded by optional whitespace. */
static int v_document(struct vstate *v)
{
	skip_ws(v);
	if (v->pos >= v->len || v->s[v->pos] != '{')
		return fail_found(v, "expected a JSON object");
	if (v_object(v) < 0)
		return -1;
	skip_ws(v);
	if (v->pos < v->len)
		return fail_found(v, "expected end of file after the top-level object");
	return 0;
}

static void linecol(const char *text, size_t off, unsigned *line, unsigned *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off; i++) {
		if (text[i] == '\n') {
			++*line;
			*col = 1;
		} else if ((text[i] & 0xC0) != 0x80) {
			++*col;
		}
	}
}

int json_parse(struct json_doc *doc, const char *name, const char *text, size_t len,
	       struct errbuf *err)
{
	struct vstate v = {.s = (const unsigned char *)text, .len = len};
	unsigned line, col;

	memset(doc, 0, sizeof(*doc));
	if (len > INT_MAX / 2)
		return err_set(err, -EINVAL, "%s: JSON text of %zu bytes is too large", name, len);
	if (v_document(&v) < 0) {
		free(v.tok);
		if (v.oom)
			return err_set(err, -ENOMEM, "%s: out of memory", name);
		linecol(text, v.err_pos, &line, &col);
		return err_set(err, -EINVAL, "%s:%u:%u: %s", name, line, col, v.msg);
	}
	doc->text = text;
	doc->len = len;
	doc->tok = v.tok;
	doc->n = v.ntok;
	return 0;
}

void json_free(struct json_doc *doc)
{
	free(doc->tok);
	memset(doc, 0, sizeof(*doc));
}

unsigned json_next(const struct json_doc *doc, unsigned i)
{
	unsigned pending = 1;

	while (pending > 0 && i < doc->n) {
		pending += doc->tok[i].size;
		pending--;
		i++;
	}
	return i;
}

void json_linecol(const struct json_doc *doc, unsigned i, unsigned *line, unsigned *col)
{
	unsigned off = doc->tok[i].start;

	if (doc->tok[i].type == JSON_STRING)
		off--; /* the opening quote */
	linecol(doc->text, off, line, col);
}

/* Encode code point cp as UTF-8 into out; returns the length. */
static size_t utf8_put(unsigned long cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Decode the escape at *p (just after the backslash; validated) into out; returns its length. */
static size_t decode_escape(const unsigned char **p, char *out)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	unsigned char c = *(*p)++;
	unsigned long cp, lo;

	if (c != 'u') {
		out[0] = to[strchr(from, c) - from];
		return 1;
	}
	cp = (unsigned long)hex4(*p, 4);
	*p += 4;
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		lo = (unsigned long)hex4(*p + 2, 4);
		*p += 6;
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
	}
	return utf8_put(cp, out);
}

size_t json_str_decode(const struct json_doc *doc, unsigned i, char *buf, size_t cap)
{
	const unsigned char *p = (const unsigned char *)doc->text + doc->tok[i].start;
	const unsigned char *end = (const unsigned char *)doc->text + doc->tok[i].end;
	size_t n = 0, k, j;
	char out[4];

	while (p < end) {
		if (*p == '\\') {
			p++;
			k = decode_escape(&p, out);
		} else {
			out[0] = (char)*p++;
			k = 1;
		}
		for (j = 0; j < k; j++, n++)
			if (n + 1 < cap)
				buf[n] = out[j];
	}
	if (cap > 0)
		buf[n < cap ? n : cap - 1] = '\0';
	return n;
}

char *json_str_dup(const struct json_doc *doc, unsigned i, size_t *len)
{
	size_t n = json_str_decode(doc, i, NULL, 0);
	char *s = malloc(n + 1);

	if (!s)
		return NULL;
	json_str_decode(doc, i, s, n + 1);
	if (len)
		*len = n;
	return s;
}

bool json_str_eq(const struct json_doc *doc, unsigned i, const char *s)
{
	char buf[64];
	size_t n, want = strlen(s);

	if (doc->tok[i].type != JSON_STRING || want >= sizeof(buf))
		return false;
	n = json_str_decode(doc, i, buf, sizeof(buf));
	return n == want && memcmp(buf, s, n) == 0;
}

int json_u64(const struct json_doc *doc, unsigned i, uint64_t *out)
{
	const struct json_tok *t = &doc->tok[i];
	uint64_t v = 0;
	unsigned p;

	if (t->type != JSON_NUMBER)
		return -EINVAL;
	for (p = t->start; p < t->end; p++) {
		unsigned d = (unsigned char)doc->text[p] - '0';

		if (d > 9)
			return -EINVAL;
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

void json_describe(const struct json_doc *doc, unsigned i, char *buf, size_t cap)
{
	const struct json_tok *t = &doc->tok[i];
	const unsigned char *s = (const unsigned char *)doc->text + t->start;
	size_t n = t->end - t->start, cut = excerpt_cut(s, n), o = 0, j;
	const char *q = t->type == JSON_STRING ? "\"" : "";

	if (t->type == JSON_OBJECT || t->type == JSON_ARRAY) {
		snprintf(buf, cap, "%s", t->type == JSON_OBJECT ? "an object" : "an array");
		return;
	}
	o += (size_t)snprintf(buf + o, cap - o, "%s", q);
	for (j = 0; j < cut && o < cap; j++) {
		if (s[j] == 0x7F) /* the one control character JSON allows unescaped */
			o += (size_t)snprintf(buf + o, cap - o, "\\u007f");
		else
			o += (size_t)snprintf(buf + o, cap - o, "%c", s[j]);
	}
	if (o < cap)
		snprintf(buf + o, cap - o, "%s%s", cut < n ? "..." : "", q);
}
