/* Replay window for data-message counters: the Linux driver's
 * counter_validate() (RFC 6479), one bit per counter in a ring of words. */
#include "wg/replay.h"

#include <string.h>

#define BITS_PER_WORD (8 * sizeof(uint64_t))
#define RING_WORDS (COUNTER_BITS_TOTAL / BITS_PER_WORD)

_Static_assert(RING_WORDS == sizeof(((struct replay_counter *)0)->backtrack) /
				    sizeof(uint64_t),
	       "backtrack size");
_Static_assert((RING_WORDS & (RING_WORDS - 1)) == 0, "ring: a power of 2");
_Static_assert(COUNTER_REDUNDANT_BITS == BITS_PER_WORD,
	       "one redundant word: the one being recycled");

void replay_init(struct replay_counter *r)
{
	memset(r, 0, sizeof(*r));
}

bool replay_check(struct replay_counter *r, uint64_t counter)
{
	uint64_t index, index_current, top, i, bit;

	if (r->counter >= REJECT_AFTER_MESSAGES + 1 ||
	    counter >= REJECT_AFTER_MESSAGES)
		return false;

	/* Work in "counter + 1" so that r->counter == 0 means nothing seen;
	 * the check above keeps this from wrapping. */
	++counter;

	if (COUNTER_WINDOW_SIZE + counter < r->counter)
		return false;

	index = counter / BITS_PER_WORD;
	if (counter > r->counter) {
		/* Slide forward: clear the words between the old top and the
		 * new one, at most the whole ring. */
		index_current = r->counter / BITS_PER_WORD;
		top = index - index_current;
		if (top > RING_WORDS)
			top = RING_WORDS;
		for (i = 1; i <= top; ++i)
			r->backtrack[(index_current + i) % RING_WORDS] = 0;
		r->counter = counter;
	}

	index %= RING_WORDS;
	bit = 1ULL << (counter % BITS_PER_WORD);
	if (r->backtrack[index] & bit)
		return false;
	r->backtrack[index] |= bit;
	return true;
}
