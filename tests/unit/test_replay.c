/* Replay window: the table shared by the Linux driver's counter selftest and
 * wireguard-go's replay_test.go, plus both projects' bulk loops. */
#include "unit.h"

#include "wg/replay.h"

#define T_LIM (COUNTER_WINDOW_SIZE + 1)

static struct replay_counter counter;
static unsigned int test_num;

static void t_init(void)
{
	replay_init(&counter);
	test_num = 0;
}

static void t(uint64_t n, bool expected)
{
	++test_num;
	if (replay_check(&counter, n) != expected) {
		fprintf(stderr, "  replay case %u (counter %llu) expected %s\n",
			test_num, (unsigned long long)n,
			expected ? "accept" : "reject");
		unit_fail("replay_check(n) == expected", __FILE__, __LINE__);
	}
}

static void test_table(void)
{
	t_init();
	/*  1 */ t(0, true);
	/*  2 */ t(1, true);
	/*  3 */ t(1, false);
	/*  4 */ t(9, true);
	/*  5 */ t(8, true);
	/*  6 */ t(7, true);
	/*  7 */ t(7, false);
	/*  8 */ t(T_LIM, true);
	/*  9 */ t(T_LIM - 1, true);
	/* 10 */ t(T_LIM - 1, false);
	/* 11 */ t(T_LIM - 2, true);
	/* 12 */ t(2, true);
	/* 13 */ t(2, false);
	/* 14 */ t(T_LIM + 16, true);
	/* 15 */ t(3, false);
	/* 16 */ t(T_LIM + 16, false);
	/* 17 */ t(T_LIM * 4, true);
	/* 18 */ t(T_LIM * 4 - (T_LIM - 1), true);
	/* 19 */ t(10, false);
	/* 20 */ t(T_LIM * 4 - T_LIM, false);
	/* 21 */ t(T_LIM * 4 - (T_LIM + 1), false);
	/* 22 */ t(T_LIM * 4 - (T_LIM - 2), true);
	/* 23 */ t(T_LIM * 4 + 1 - T_LIM, false);
	/* 24 */ t(0, false);
	/* 25 */ t(REJECT_AFTER_MESSAGES, false);
	/* 26 */ t(REJECT_AFTER_MESSAGES - 1, true);
	/* 27 */ t(REJECT_AFTER_MESSAGES, false);
	/* 28 */ t(REJECT_AFTER_MESSAGES - 1, false);
	/* 29 */ t(REJECT_AFTER_MESSAGES - 2, true);
	/* 30 */ t(REJECT_AFTER_MESSAGES + 1, false);
	/* 31 */ t(REJECT_AFTER_MESSAGES + 2, false);
	/* 32 */ t(REJECT_AFTER_MESSAGES - 2, false);
	/* 33 */ t(REJECT_AFTER_MESSAGES - 3, true);
	/* 34 */ t(0, false);
	CHECK(test_num == 34);
}

/* The Linux selftest's bulk loops. */
static void test_bulk_linux(void)
{
	uint64_t i;

	t_init();
	for (i = 1; i <= COUNTER_WINDOW_SIZE; ++i)
		t(i, true);
	t(0, true);
	t(0, false);

	t_init();
	for (i = 2; i <= COUNTER_WINDOW_SIZE + 1; ++i)
		t(i, true);
	t(1, true);
	t(0, false);

	t_init();
	for (i = COUNTER_WINDOW_SIZE + 1; i-- > 0;)
		t(i, true);

	t_init();
	for (i = COUNTER_WINDOW_SIZE + 2; i-- > 1;)
		t(i, true);
	t(0, false);

	t_init();
	for (i = COUNTER_WINDOW_SIZE + 1; i-- > 1;)
		t(i, true);
	t(COUNTER_WINDOW_SIZE + 1, true);
	t(0, false);

	t_init();
	for (i = COUNTER_WINDOW_SIZE + 1; i-- > 1;)
		t(i, true);
	t(0, true);
	t(COUNTER_WINDOW_SIZE + 1, true);
}

/* wireguard-go's bulk tests 3 and 4 sit one counter higher than Linux's. */
static void test_bulk_go(void)
{
	uint64_t i;

	t_init();
	for (i = COUNTER_WINDOW_SIZE + 1; i > 0; i--)
		t(i, true);

	t_init();
	for (i = COUNTER_WINDOW_SIZE + 2; i > 1; i--)
		t(i, true);
	t(0, false);
}

/* Windows far apart: a jump of more than the ring clears every word. */
static void test_far_jump(void)
{
	uint64_t base = 1ULL << 40;
	uint64_t i;

	t_init();
	for (i = 0; i < 200; ++i)
		t(i * 3, true);
	t(base, true);
	t(base - COUNTER_WINDOW_SIZE, true);
	t(base - COUNTER_WINDOW_SIZE - 1, false);
	for (i = 1; i < 200; ++i)
		t(base - i * 7, true);
	for (i = 1; i < 200; ++i)
		t(base - i * 7, false);
	t(base + COUNTER_BITS_TOTAL * 3, true);
	t(base, false);
	t(base + COUNTER_BITS_TOTAL * 3 - 1, true);
}

int main(void)
{
	RUN(test_table);
	RUN(test_bulk_linux);
	RUN(test_bulk_go);
	RUN(test_far_jump);
	return unit_done();
}
