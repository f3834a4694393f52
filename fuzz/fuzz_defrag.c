/* libFuzzer target for io/defrag.c: the input is a batch of inner packets
 * (each a 2-byte length, a 1-byte room hint, then the bytes), joined as the
 * daemon joins what it decrypted; every packet that comes out must fit its
 * buffer (ASan watches the copies). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "io/defrag.h"

enum { MAXPKT = 64, CAP = 4032 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t bufs[MAXPKT][CAP];
	struct defrag_pkt pkts[MAXPKT];
	bool wait[MAXPKT];
	unsigned n = 0, i, marked;

	while (size >= 3 && n < MAXPKT) {
		size_t len = (size_t)(data[0] << 8 | data[1]) % CAP;
		uint32_t cap = CAP - (uint32_t)data[2] * 8;

		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		if (cap < len)
			cap = (uint32_t)len;
		if (!len)
			continue;
		memcpy(bufs[n], data, len);
		pkts[n] = (struct defrag_pkt){ bufs[n], (uint32_t)len, cap, n };
		data += len;
		size -= len;
		n++;
	}
	n = defrag4_batch(pkts, n);
	for (i = 0; i < n; ++i)
		if (!pkts[i].len || pkts[i].len > pkts[i].cap)
			__builtin_trap();
	/* what waits for the next batch: only packets of this one, each
	 * counted once */
	marked = defrag4_unfinished(pkts, n, n / 2, wait);
	for (i = 0; i < n; ++i)
		if (wait[i] && (!marked-- || pkts[i].id < n / 2))
			__builtin_trap();
	if (marked)
		__builtin_trap();
	return 0;
}
