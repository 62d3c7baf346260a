/* Strict RFC 8259 JSON documents: validated with line:column errors and tokenized in one pass. */
#ifndef MICROVM_JSON_H
#define MICROVM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#define JSON_MAX_DEPTH	32U    /* objects/arrays nested deeper than this are rejected */
#define JSON_MAX_TOKENS 65536U /* values + keys in one document */

enum json_type {
	JSON_OBJECT,
	JSON_ARRAY,
	JSON_STRING,
	JSON_NUMBER,
	JSON_TRUE,
	JSON_FALSE,
	JSON_NULL,
};

/* One value or key. Strings: [start, end) is the raw text between the quotes. Objects: size
 * is the number of members, each a key token followed by its value's tokens. Arrays: size is
 * the number of elements. Keys: size is 1. */
struct json_tok {
	enum json_type type;
	unsigned start;
	unsigned end;
	unsigned size;
};

struct json_doc {
	const char *text;
	size_t len;
	struct json_tok *tok; /* tok[0] is the top-level value */
	unsigned n;
};

/* Validate text as one strict JSON object and tokenize it. On error fills err with
 * "NAME:LINE:COL: what was expected, found what" and returns -EINVAL (-ENOMEM on ENOMEM). */
int json_parse(struct json_doc *doc, const char *name, const char *text, size_t len,
	       struct errbuf *err);
void json_free(struct json_doc *doc);

/* Index of the token that follows token i and everything nested in it. */
unsigned json_next(const struct json_doc *doc, unsigned i);

/* 1-based line and column (in characters) of token i's first character. */
void json_linecol(const struct json_doc *doc, unsigned i, unsigned *line, unsigned *col);

/* Decode string token i into buf (NUL-terminated, truncated to cap); returns the decoded
 * length, which may include NUL characters written as \u0000. */
size_t json_str_decode(const struct json_doc *doc, unsigned i, char *buf, size_t cap);

/* Decoded copy of string token i (malloc'd; *len gets the length); NULL on ENOMEM. */
char *json_str_dup(const struct json_doc *doc, unsigned i, size_t *len);

/* Whether string token i decodes to exactly s. */
bool json_str_eq(const struct json_doc *doc, unsigned i, const char *s);

/* Token i as a plain non-negative integer: 0, -ERANGE (too big for 64 bits) or -EINVAL
 * (not a number, or has a sign, fraction or exponent). */
int json_u64(const struct json_doc *doc, unsigned i, uint64_t *out);

/* A short printable description of token i for messages: "an object", "an array", the number
 * or literal as written, or the string in quotes, truncated with "...". */
void json_describe(const struct json_doc *doc, unsigned i, char *buf, size_t cap);

#endif
