/* libFuzzer target for io/offload.c: arbitrary vnet headers and packets into
 * the TSO/USO split, and the resulting segments (or arbitrary packets) into
 * GRO coalescing, whose writes are then walked as the daemon walks them. */
#include <stdint.h>
#include <string.h>

#include "io/offload.h"

enum { MAXSEG = 256, SEGCAP = 2048 };

static uint8_t segs[MAXSEG][VNET_HDR_LEN + SEGCAP];
static unsigned nsegs;
static struct offload_pkt pkts[MAXSEG];

static uint8_t *seg_alloc(void *ctx, size_t len)
{
	if (nsegs == MAXSEG || len > SEGCAP)
		return NULL;
	return segs[nsegs] + VNET_HDR_LEN;
}

static void seg_emit(void *ctx, uint8_t *seg, size_t len)
{
	pkts[nsegs].data = seg;
	pkts[nsegs].len = (uint32_t)len;
	nsegs++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pkt[OFFLOAD_MAX_LEN];
	const struct offload_sink sink = { seg_alloc, seg_emit, NULL };
	struct offload_write writes[MAXSEG];
	uint32_t next[MAXSEG];
	struct virtio_net_hdr h;
	unsigned nw, i, k, total = 0;

	if (size < sizeof(h) + 1 || size - sizeof(h) > sizeof(pkt))
		return 0;
	memcpy(&h, data, sizeof(h));
	memcpy(pkt, data + sizeof(h), size - sizeof(h));
	nsegs = 0;
	offload_split(&h, pkt, size - sizeof(h), &sink);
	nw = offload_coalesce(pkts, nsegs, writes, next, data[0] & 1);
	for (i = 0; i < nw; ++i) {
		for (k = writes[i].first; k != UINT32_MAX; k = next[k]) {
			unsigned off = k == writes[i].first
					       ? 0
					       : offload_payload_off(&pkts[k]);

			if (off > pkts[k].len)
				__builtin_trap();
			total += pkts[k].len - off;
		}
	}
	return total == 0xffffffff;
}
