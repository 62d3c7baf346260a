/* Firmware runtime: entry from the boot stub, serial output, printf subset, strings,
 * command line parsing, exit paths. */
#include "fw.h"

const struct hvm_start_info *fw_start_info;
static const char *cmdline = "";

_Noreturn void fw_start(const struct hvm_start_info *si);

_Noreturn void fw_start(const struct hvm_start_info *si)
{
	fw_start_info = si;
	if (si == NULL || si->magic != HVM_START_MAGIC_VALUE) {
		fw_printf("fw: bad hvm_start_info at %p (magic 0x%x)\n", (const void *)si,
			  si ? si->magic : 0U);
		fw_exit(FW_STATUS_BAD_START_INFO);
	}
	if (si->cmdline_paddr != 0)
		cmdline = (const char *)(uintptr_t)si->cmdline_paddr;
	fw_exit((unsigned)main());
}

const char *fw_cmdline(void)
{
	return cmdline;
}

_Noreturn void fw_halt(void)
{
	for (;;)
		__asm__ __volatile__("cli; hlt" ::: "memory");
}

_Noreturn void fw_exit(unsigned status)
{
	outb(FW_EXIT_PORT, (uint8_t)status);
	fw_halt();
}

_Noreturn void fw_reset(void)
{
	outb(FW_I8042_COMMAND, FW_I8042_RESET);
	fw_halt();
}

/* ---- strings ---- */

/* Do the 8 bytes at a and b differ? */
static bool memcmp8(const unsigned char *a, const unsigned char *b)
{
	uint64_t x, y;
	__builtin_memcpy(&x, a, 8);
	__builtin_memcpy(&y, b, 8);
	return x != y;
}

/*
 * Where CPL0 code is emulated, each iteration of a rep string instruction costs about 1 us
 * whatever its width, a loop of ordinary instructions about 5 us per byte: so these work in
 * qwords (rep movsq/stosq/cmpsq/scasq) and finish the tail in bytes.
 */
#define BYTES8(c) ((uint64_t)(unsigned char)(c)*0x0101010101010101ULL)

void *memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;
	size_t words = n / 8, tail = n % 8;
	__asm__ __volatile__("rep movsq" : "+D"(d), "+S"(src), "+c"(words) : : "memory");
	__asm__ __volatile__("rep movsb" : "+D"(d), "+S"(src), "+c"(tail) : : "memory");
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	void *d = dst;
	size_t words = n / 8, tail = n % 8;
	__asm__ __volatile__("rep stosq" : "+D"(d), "+c"(words) : "a"(BYTES8(c)) : "memory");
	__asm__ __volatile__("rep stosb" : "+D"(d), "+c"(tail) : "a"(c) : "memory");
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *p = a, *q = b;
	size_t words = n / 8;
	n %= 8;
	if (words != 0) {
		/* repe cmpsq stops after the first differing qword (or after all of them). */
		__asm__ __volatile__("repe cmpsq"
				     : "+S"(p), "+D"(q), "+c"(words)
				     :
				     : "memory", "cc");
		if (memcmp8(p - 8, q - 8)) {
			p -= 8;
			q -= 8;
			n = 8;
		}
	}
	if (n == 0)
		return 0;
	/* repe cmpsb stops after the first differing byte (or after n). */
	__asm__ __volatile__("repe cmpsb" : "+S"(p), "+D"(q), "+c"(n) : : "memory", "cc");
	return p[-1] == q[-1] ? 0 : (p[-1] < q[-1] ? -1 : 1);
}

size_t mem_span(const void *p, int c, size_t n)
{
	const unsigned char *d = p;
	size_t words = n / 8, left;
	if (words != 0) {
		/* repe scasq stops after the first qword that differs from c repeated. */
		left = words;
		__asm__ __volatile__("repe scasq"
				     : "+D"(d), "+c"(left)
				     : "a"(BYTES8(c))
				     : "memory", "cc");
		if (*(const uint64_t *)(const void *)(d - 8) != BYTES8(c))
			d -= 8; /* the differing byte is in that qword */
	}
	left = n - (size_t)(d - (const unsigned char *)p);
	if (left == 0)
		return n;
	/* repe scasb stops after the first byte that differs from c. */
	__asm__ __volatile__("repe scasb" : "+D"(d), "+c"(left) : "a"(c) : "memory", "cc");
	return d[-1] == (unsigned char)c ? n : (size_t)(d - 1 - (const unsigned char *)p);
}

size_t mem_find(const void *p, int c, size_t n)
{
	if (n == 0)
		return 0;
	/* repne scasb stops after the first byte equal to c. */
	const unsigned char *d = p;
	size_t left = n;
	__asm__ __volatile__("repne scasb" : "+D"(d), "+c"(left) : "a"(c) : "memory", "cc");
	return d[-1] == (unsigned char)c ? n - left - 1 : n;
}

size_t strlen(const char *s)
{
	size_t left = SIZE_MAX;
	__asm__ __volatile__("repne scasb" : "+D"(s), "+c"(left) : "a"(0) : "memory", "cc");
	return SIZE_MAX - left - 1;
}

/* ---- serial ---- */

void fw_putc(char c)
{
	outb(FW_COM1_PORT, (uint8_t)c);
}

void fw_write(const char *s, size_t n)
{
	/* rep outsb: one emulated instruction; KVM still exits once per byte. */
	__asm__ __volatile__("rep outsb"
			     : "+S"(s), "+c"(n)
			     : "d"((uint16_t)FW_COM1_PORT)
			     : "memory");
}

void fw_puts(const char *s)
{
	fw_write(s, strlen(s));
}

/* ---- printf subset ---- */

#define BOOT_LINE_MAX 4608 /* a 4 KiB command line plus a prefix */

struct out {
	char *buf;   /* may be NULL with size 0: only count */
	size_t size; /* buffer capacity */
	size_t n;    /* characters produced so far */
};

static void out_c(struct out *o, char c)
{
	if (o->buf != NULL && o->n + 1 < o->size)
		o->buf[o->n] = c;
	o->n++;
}

static void out_s(struct out *o, const char *s, size_t len)
{
	if (o->n + 1 < o->size) {
		size_t room = o->size - 1 - o->n;
		memcpy(o->buf + o->n, s, len < room ? len : room);
	}
	o->n += len;
}

/* Digits built right to left in a buffer, padding included, then copied in one go. */
static void out_num(struct out *o, uint64_t v, unsigned base, bool upper, bool neg, unsigned width,
		    char pad)
{
	char tmp[72];
	char *end = tmp + sizeof(tmp), *p = end;
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	if (base == 16) {
		do {
			*--p = digits[v & 15];
			v >>= 4;
		} while (v != 0);
	} else {
		do {
			*--p = digits[v % 10];
			v /= 10;
		} while (v != 0);
	}
	if (width > 64)
		width = 64;
	unsigned len = (unsigned)(end - p) + (neg ? 1U : 0U);
	if (neg && pad != '0')
		*--p = '-';
	for (; len < width; len++)
		*--p = pad;
	if (neg && pad == '0')
		*--p = '-';
	out_s(o, p, (size_t)(end - p));
}

static void format(struct out *o, const char *fmt, va_list ap)
{
	const char *end = fmt + strlen(fmt);
	for (; *fmt; fmt++) {
		/* Copy the literal text up to the next conversion in one go. */
		size_t run = mem_find(fmt, '%', (size_t)(end - fmt));
		out_s(o, fmt, run);
		fmt += run;
		if (*fmt == '\0')
			return;
		fmt++;
		char pad = ' ';
		unsigned width = 0;
		int lng = 0;
		int prec = -1;
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (unsigned)(*fmt++ - '0');
		if (fmt[0] == '.' && fmt[1] == '*') {
			prec = va_arg(ap, int);
			fmt += 2;
		}
		while (*fmt == 'l' || *fmt == 'z') {
			lng++;
			fmt++;
		}
		uint64_t u;
		switch (*fmt) {
		case 'd': {
			int64_t v = lng ? va_arg(ap, long) : va_arg(ap, int);
			out_num(o, v < 0 ? -(uint64_t)v : (uint64_t)v, 10, false, v < 0, width,
				pad);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
			u = lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
			out_num(o, u, *fmt == 'u' ? 10 : 16, *fmt == 'X', false, width, pad);
			break;
		case 'p':
			out_s(o, "0x", 2);
			out_num(o, (uintptr_t)va_arg(ap, void *), 16, false, false, width, pad);
			break;
		case 'c':
			out_c(o, (char)va_arg(ap, int));
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (s == NULL)
				s = "(null)";
			size_t len = prec < 0 ? strlen(s) : mem_find(s, 0, (size_t)prec);
			for (size_t i = len; i < width; i++)
				out_c(o, ' ');
			out_s(o, s, len);
			break;
		}
		case '%':
			out_c(o, '%');
			break;
		default: /* unknown conversion: print it as is */
			out_c(o, '%');
			if (*fmt == '\0')
				return;
			out_c(o, *fmt);
			break;
		}
	}
}

int fw_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = {buf, size, 0};
	format(&o, fmt, ap);
	if (size > 0)
		buf[o.n < size ? o.n : size - 1] = '\0';
	return (int)o.n;
}

int fw_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = fw_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

void fw_vprintf(const char *fmt, va_list ap)
{
	/* Format into a buffer (room for a whole command line), then one rep outsb. */
	static char buf[BOOT_LINE_MAX];
	int n = fw_vsnprintf(buf, sizeof(buf), fmt, ap);
	fw_write(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

void fw_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fw_vprintf(fmt, ap);
	va_end(ap);
}

/* ---- command line ---- */

/*
 * The command line is split into tokens once; lookups then walk the token array. Scanning
 * is 8 bytes at a time where no byte can end a token or toggle quoting (a byte below 0x21 or
 * a double quote): a character-at-a-time loop costs about 10 us per character where CPL0 is
 * emulated. The qword reads may look up to 7 bytes past the NUL, still in the launcher's
 * command-line area.
 */
#define ONES8  0x0101010101010101ULL
#define HIGHS8 0x8080808080808080ULL

static struct fw_token tokens[FW_CMDLINE_MAX_TOKENS];
static unsigned n_tokens;
static bool tokenized;

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Does any byte of x lie below 0x21 or equal '"'? */
static bool special8(uint64_t x)
{
	uint64_t q = x ^ (ONES8 * '"');
	return ((((x - ONES8 * 0x21) & ~x) | ((q - ONES8) & ~q)) & HIGHS8) != 0;
}

bool cmdline_next(const char **pos, struct fw_token *tok)
{
	const char *p = *pos;
	while (is_space(*p))
		p++;
	if (*p == '\0') {
		*pos = p;
		return false;
	}
	const char *start = p;
	bool quoted = false;
	for (;;) {
		if (!quoted) {
			uint64_t x;
			__builtin_memcpy(&x, p, 8);
			if (!special8(x)) {
				p += 8;
				continue;
			}
		}
		char c = *p;
		if (c == '\0' || (!quoted && is_space(c)))
			break;
		if (c == '"')
			quoted = !quoted;
		p++;
	}
	tok->s = start;
	tok->len = (size_t)(p - start);
	*pos = p;
	return true;
}

const struct fw_token *cmdline_tokens(unsigned *n)
{
	if (!tokenized) {
		const char *pos = cmdline;
		while (n_tokens < FW_CMDLINE_MAX_TOKENS && cmdline_next(&pos, &tokens[n_tokens]))
			n_tokens++;
		tokenized = true;
	}
	*n = n_tokens;
	return tokens;
}

bool token_value(const struct fw_token *tok, const char *key, struct fw_token *val)
{
	size_t k = strlen(key);
	if (tok->len <= k || tok->s[k] != '=' || memcmp(tok->s, key, k) != 0)
		return false;
	val->s = tok->s + k + 1;
	val->len = tok->len - k - 1;
	return true;
}

bool cmdline_get(const char *key, struct fw_token *val)
{
	unsigned n;
	const struct fw_token *t = cmdline_tokens(&n);
	size_t k = strlen(key);
	while (n-- > 0) /* from the end: the last one wins */
		if (t[n].len > k && t[n].s[k] == '=' && memcmp(t[n].s, key, k) == 0) {
			val->s = t[n].s + k + 1;
			val->len = t[n].len - k - 1;
			return true;
		}
	return false;
}

bool token_eq(const struct fw_token *t, const char *s)
{
	size_t n = strlen(s);
	return t->len == n && memcmp(t->s, s, n) == 0;
}

bool parse_u64(const char *s, size_t len, uint64_t *out, size_t *used)
{
	size_t i = 0;
	unsigned base = 10;
	if (len >= 3 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	} else if (len >= 2 && s[0] == '0') {
		base = 8;
		i = 1;
	}
	size_t first = i;
	uint64_t v = 0;
	for (; i < len; i++) {
		char c = s[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a') + 10;
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A') + 10;
		else
			break;
		if (d >= base)
			break;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	if (i == first) {
		if (base == 8) { /* a lone "0" */
			*out = 0;
			if (used)
				*used = 1;
			return true;
		}
		return false;
	}
	*out = v;
	if (used)
		*used = i;
	return true;
}

bool token_u64(const struct fw_token *t, uint64_t *out)
{
	size_t used;
	return parse_u64(t->s, t->len, out, &used) && used == t->len;
}

uint64_t cmdline_u64(const char *key, uint64_t def, bool *bad)
{
	struct fw_token v;
	uint64_t n;
	if (!cmdline_get(key, &v))
		return def;
	if (!token_u64(&v, &n)) {
		if (bad)
			*bad = true;
		return def;
	}
	return n;
}
