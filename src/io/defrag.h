/* IPv4 reassembly within one batch of inner packets bound for the TUN.
 *
 * A 1,400-byte UDP datagram through a 1,420-byte tunnel leaves the sender as
 * two IP fragments. Written to the TUN as they are, each is one write and
 * one pass through the kernel's receive path before ip_defrag joins them;
 * joined here, the datagram is one packet that offload_coalesce can merge
 * with the flow's next datagrams into a single UDP GSO write.
 *
 * Only the plain case is joined: every fragment of the datagram in the
 * batch, in order, without gaps or overlaps, with valid header checksums and
 * identical headers (no options, same TOS/TTL), the result fitting the first
 * fragment's buffer. Anything else goes to the kernel untouched, which
 * reassembles it as before. This module keeps no state; the caller carries
 * a batch's unfinished datagrams into the next (defrag4_unfinished). IPv6 is left
 * alone: its fragments must reach a forwarding host as fragments (a router
 * never reassembles IPv6, and a joined packet above the next link's MTU
 * would draw a Packet Too Big for a size the sender never sent). */
#ifndef SPOKEWIRE_IO_DEFRAG_H
#define SPOKEWIRE_IO_DEFRAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct defrag_pkt {
	uint8_t *data;
	uint32_t len;
	uint32_t cap; /* bytes usable at data */
	uint32_t id;  /* the caller's: stays with the buffer data points into */
};

/* Fragments are looked for among the next DEFRAG_WINDOW packets after a
 * first fragment: they travel together, and the bound keeps a batch of
 * lone first fragments linear. */
enum { DEFRAG_WINDOW = 32 };

/* Joins complete fragment sets of pkts[0..n) in place: the datagram is
 * written into its first fragment's buffer and takes the place of the
 * fragment that completed it (where the kernel would have completed it);
 * the other fragments leave the array, which keeps its order otherwise.
 * Returns the new count. */
unsigned defrag4_batch(struct defrag_pkt *pkts, unsigned n);

/* A batch ends where the socket read stopped, which can be between a
 * datagram's fragments: the sender's kernel queues the full-sized fragments
 * as one GSO message and the tails as the next, and a receiver woken by the
 * first reads before the second is there. Written to the TUN, such halves
 * go through the kernel's reassembly, whose memory (4 MiB per namespace)
 * fills with the halves of datagrams lost under overload and then drops
 * every fragment for its 30-second timeout. So after defrag4_batch the
 * caller keeps the unfinished datagrams for the next batch, placed before
 * it: this marks in wait[] the fragments among pkts[0..n) whose id is at
 * least from_id (new in this batch) and whose datagram's first fragment is
 * among them. Returns how many it marked. */
unsigned defrag4_unfinished(const struct defrag_pkt *pkts, unsigned n,
			    uint32_t from_id, bool *wait);

/* The sending side's half: what an outgoing inner packet is. The last
 * fragment of a datagram (IPv4, or IPv6 with the fragment header first) is
 * small and sits between full-sized ones, which splits every UDP GSO send
 * in two; held back to the end of the read batch, the full-sized pieces go
 * out as one GSO send and the tails as another. Datagrams still complete in
 * their order (the tails keep theirs); a packet that is no fragment and
 * may share a flow with a held tail sends the tails first
 * (offload_same_hosts), so nothing overtakes within a flow. */
enum frag_kind {
	FRAG_NONE,       /* not a fragment (as far as we look) */
	FRAG_LEADING,    /* a fragment with more to follow */
	FRAG_TAIL,       /* the last fragment, offset > 0 */
};
enum frag_kind frag_kind(const uint8_t *pkt, size_t len);

#endif
