/* Minimal unit-test harness: CHECK macros, a test registry, and one summary line. */
#ifndef MICROVM_UNIT_H
#define MICROVM_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failures;
static int unit_checks;
static const char *unit_current;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		unit_checks++;                                                                     \
		if (!(cond)) {                                                                     \
			unit_failures++;                                                           \
			fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__,       \
				unit_current, #cond);                                              \
		}                                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                                \
		unit_checks++;                                                                     \
		if (_a != _b) {                                                                    \
			unit_failures++;                                                           \
			fprintf(stderr, "%s:%d: %s: %s == %lld, expected %s == %lld\n", __FILE__,  \
				__LINE__, unit_current, #a, _a, #b, _b);                           \
		}                                                                                  \
	} while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                            \
	do {                                                                                       \
		const char *_h = (hay), *_n = (needle);                                            \
		unit_checks++;                                                                     \
		if (!_h || !strstr(_h, _n)) {                                                      \
			unit_failures++;                                                           \
			fprintf(stderr, "%s:%d: %s: \"%s\" does not contain \"%s\"\n", __FILE__,   \
				__LINE__, unit_current, _h ? _h : "(null)", _n);                   \
		}                                                                                  \
	} while (0)

#define RUN(fn)                                                                                    \
	do {                                                                                       \
		unit_current = #fn;                                                                \
		fn();                                                                              \
	} while (0)

/* Print "<file>: N passed, M failed" and return the exit status for main. */
static inline int unit_summary(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, unit_checks - unit_failures, unit_failures);
	return unit_failures ? 1 : 0;
}

#endif
