/* Per-peer protocol timers (whitepaper 6; the Linux driver's timers.c):
 * events record deadlines, timers_expire() fires the ones that passed. */
#ifndef SPOKEWIRE_WG_TIMERS_H
#define SPOKEWIRE_WG_TIMERS_H

struct peer;

void timers_data_sent(struct peer *peer);
void timers_data_received(struct peer *peer);
void timers_any_authenticated_packet_sent(struct peer *peer);
void timers_any_authenticated_packet_received(struct peer *peer);
void timers_handshake_initiated(struct peer *peer);
void timers_handshake_complete(struct peer *peer);
void timers_session_derived(struct peer *peer);
void timers_any_authenticated_packet_traversal(struct peer *peer);
void timers_stop(struct peer *peer);
/* Fires every timer whose deadline is at or before peer->wg->now. */
void timers_expire(struct peer *peer);

#endif
