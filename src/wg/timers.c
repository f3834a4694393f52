/* Timer events and expiry handlers, as the Linux driver's timers.c. A timer
 * is an absolute monotonic deadline in peer->timers; 0 means not pending. */
#include "wg/timers.h"

#include <string.h>

#include "wg/wg.h"

static uint64_t now(const struct peer *peer)
{
	return peer->wg->now;
}

static uint64_t jitter(void)
{
	return (uint64_t)random_uniform(REKEY_TIMEOUT_JITTER_MAX_MS) * NS_PER_MS;
}

static void mod_timer(struct peer *peer, enum peer_timer t, uint64_t deadline)
{
	peer->timers[t] = deadline ? deadline : 1;
}

static void del_timer(struct peer *peer, enum peer_timer t)
{
	peer->timers[t] = 0;
}

static bool pending(const struct peer *peer, enum peer_timer t)
{
	return peer->timers[t] != 0;
}

/* We sent data and expect a reply; if none comes, re-handshake. */
void timers_data_sent(struct peer *peer)
{
	if (!pending(peer, TIMER_NEW_HANDSHAKE))
		mod_timer(peer, TIMER_NEW_HANDSHAKE,
			  now(peer) +
				  (KEEPALIVE_TIMEOUT + REKEY_TIMEOUT) * NS_PER_SEC +
				  jitter());
}

/* We received data: acknowledge with a keepalive if we send nothing. */
void timers_data_received(struct peer *peer)
{
	if (!pending(peer, TIMER_SEND_KEEPALIVE))
		mod_timer(peer, TIMER_SEND_KEEPALIVE,
			  now(peer) + KEEPALIVE_TIMEOUT * NS_PER_SEC);
	else
		peer->timer_need_another_keepalive = true;
}

void timers_any_authenticated_packet_sent(struct peer *peer)
{
	del_timer(peer, TIMER_SEND_KEEPALIVE);
}

void timers_any_authenticated_packet_received(struct peer *peer)
{
	del_timer(peer, TIMER_NEW_HANDSHAKE);
}

void timers_handshake_initiated(struct peer *peer)
{
	mod_timer(peer, TIMER_RETRANSMIT_HANDSHAKE,
		  now(peer) + REKEY_TIMEOUT * NS_PER_SEC + jitter());
}

void timers_handshake_complete(struct peer *peer)
{
	del_timer(peer, TIMER_RETRANSMIT_HANDSHAKE);
	peer->timer_handshake_attempts = 0;
	peer->sent_lastminute_handshake = false;
	peer->last_handshake_real_ns = peer->wg->now_real;
}

/* Keys must not outlive REJECT_AFTER_TIME * 3 without a new handshake. */
void timers_session_derived(struct peer *peer)
{
	mod_timer(peer, TIMER_ZERO_KEY_MATERIAL,
		  now(peer) + REJECT_AFTER_TIME * 3 * NS_PER_SEC);
}

void timers_any_authenticated_packet_traversal(struct peer *peer)
{
	if (peer->persistent_keepalive_interval)
		mod_timer(peer, TIMER_PERSISTENT_KEEPALIVE,
			  now(peer) + (uint64_t)peer->persistent_keepalive_interval *
					      NS_PER_SEC);
}

void timers_stop(struct peer *peer)
{
	memset(peer->timers, 0, sizeof(peer->timers));
}

static void expired_retransmit_handshake(struct peer *peer)
{
	if (peer->timer_handshake_attempts > MAX_TIMER_HANDSHAKES) {
		/* Give up: drop what waited, and wipe keys later unless a
		 * handshake happens first. */
		wg_diag(peer->wg, WG_DIAG_NO_RESPONSE, peer, NULL, NULL);
		del_timer(peer, TIMER_SEND_KEEPALIVE);
		wg_purge_staged(peer);
		if (!pending(peer, TIMER_ZERO_KEY_MATERIAL))
			mod_timer(peer, TIMER_ZERO_KEY_MATERIAL,
				  now(peer) + REJECT_AFTER_TIME * 3 * NS_PER_SEC);
	} else {
		++peer->timer_handshake_attempts;
		wg_send_handshake_initiation(peer, true);
	}
}

static void expired_send_keepalive(struct peer *peer)
{
	wg_send_keepalive(peer);
	if (peer->timer_need_another_keepalive) {
		peer->timer_need_another_keepalive = false;
		mod_timer(peer, TIMER_SEND_KEEPALIVE,
			  now(peer) + KEEPALIVE_TIMEOUT * NS_PER_SEC);
	}
}

static void expired_new_handshake(struct peer *peer)
{
	wg_send_handshake_initiation(peer, false);
}

static void expired_zero_key_material(struct peer *peer)
{
	noise_keypairs_clear(peer);
	noise_handshake_clear(peer);
}

static void expired_persistent_keepalive(struct peer *peer)
{
	if (peer->persistent_keepalive_interval)
		wg_send_keepalive(peer);
}

static void (*const handlers[TIMER_COUNT])(struct peer *) = {
	[TIMER_RETRANSMIT_HANDSHAKE] = expired_retransmit_handshake,
	[TIMER_SEND_KEEPALIVE] = expired_send_keepalive,
	[TIMER_NEW_HANDSHAKE] = expired_new_handshake,
	[TIMER_ZERO_KEY_MATERIAL] = expired_zero_key_material,
	[TIMER_PERSISTENT_KEEPALIVE] = expired_persistent_keepalive,
};

void timers_expire(struct peer *peer)
{
	int t;

	for (t = 0; t < TIMER_COUNT; ++t) {
		if (pending(peer, t) && peer->timers[t] <= now(peer)) {
			del_timer(peer, t);
			handlers[t](peer);
		}
	}
}
