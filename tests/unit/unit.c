/* The unit-test harness behind unit.h. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

int unit_failures_in_test;
static int passed, failed;

void unit_fail(const char *expr, const char *file, int line)
{
	if (unit_failures_in_test++ < 10)
		fprintf(stderr, "  %s:%d: check failed: %s\n", file, line,
			expr);
}

/* UNIT_ONLY=SUBSTRING runs only the tests whose name contains it. */
void unit_run(const char *name, void (*fn)(void))
{
	static bool init;
	const char *only = getenv("UNIT_ONLY");

	if (only && !strstr(name, only))
		return;
	if (!init) {
		if (crypto_init()) {
			fprintf(stderr, "crypto_init failed\n");
			exit(2);
		}
		init = true;
	}
	unit_failures_in_test = 0;
	fn();
	if (unit_failures_in_test) {
		printf("FAIL: %s\n", name);
		failed++;
	} else {
		printf("PASS: %s\n", name);
		passed++;
	}
	fflush(stdout);
}

int unit_done(void)
{
	return failed ? 1 : 0;
}
