/* The Internet checksum (RFC 1071): sum without folding, then fold. */
#ifndef SPOKEWIRE_IO_CSUM_H
#define SPOKEWIRE_IO_CSUM_H

#include <stddef.h>
#include <stdint.h>

/* sum plus data's 16-bit words (native order; an odd last byte is padded
 * with zero), kept to 32 bits. */
uint32_t csum_add(uint32_t sum, const void *data, size_t len);
/* The sum folded to 16 bits (not complemented). */
uint16_t csum_fold(uint32_t sum);

#endif
