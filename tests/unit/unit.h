/* Minimal unit-test harness: each test binary's main() calls RUN(fn) for its
 * tests and returns unit_done(). Prints "PASS: name" / "FAIL: name" lines that
 * tests/run.sh counts. */
#ifndef SPOKEWIRE_TESTS_UNIT_H
#define SPOKEWIRE_TESTS_UNIT_H

#include <stdbool.h>
#include <stdio.h>

extern int unit_failures_in_test;
void unit_fail(const char *expr, const char *file, int line);
void unit_run(const char *name, void (*fn)(void));
int unit_done(void);

#define CHECK(cond)                                              \
	do {                                                     \
		if (!(cond))                                     \
			unit_fail(#cond, __FILE__, __LINE__);    \
	} while (0)
/* Like CHECK, but stops the current test. */
#define REQUIRE(cond)                                            \
	do {                                                     \
		if (!(cond)) {                                   \
			unit_fail(#cond, __FILE__, __LINE__);    \
			return;                                  \
		}                                                \
	} while (0)
#define RUN(fn) unit_run(#fn, fn)

#endif
