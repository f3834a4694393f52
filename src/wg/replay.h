/* Sliding-window replay protection for data-message counters (RFC 6479 as
 * the Linux driver implements it: COUNTER_BITS_TOTAL bits, word-granular). */
#ifndef SPOKEWIRE_WG_REPLAY_H
#define SPOKEWIRE_WG_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "wg/messages.h"

struct replay_counter {
	uint64_t counter; /* highest counter seen + 1 */
	uint64_t backtrack[COUNTER_BITS_TOTAL / 64];
};

void replay_init(struct replay_counter *r);
/* True when counter is new and below REJECT_AFTER_MESSAGES; marks it seen.
 * Call only after the packet authenticated. */
bool __must_check replay_check(struct replay_counter *r, uint64_t counter);

#endif
