/* Receiver-index table: the 32-bit indices we hand peers map back to a
 * handshake or a keypair (the Linux driver's peerlookup.c index hashtable). */
#ifndef SPOKEWIRE_WG_INDEX_H
#define SPOKEWIRE_WG_INDEX_H

#include <stdint.h>

struct peer;

enum index_type {
	INDEX_HANDSHAKE = 1 << 0,
	INDEX_KEYPAIR = 1 << 1,
};

struct index_entry {
	struct index_entry *next;
	struct peer *peer;
	uint32_t index;
	uint8_t type;
	uint8_t hashed;
};

struct index_table {
	struct index_entry **buckets;
	uint32_t mask;
	uint32_t count;
};

int index_table_init(struct index_table *t, unsigned bits);
void index_table_free(struct index_table *t);
/* Gives entry a fresh random index unique in the table (removing it first
 * if hashed) and hashes it. Returns the index. */
uint32_t index_insert(struct index_table *t, struct index_entry *entry);
/* new takes old's index; old is unhashed. */
void index_replace(struct index_table *t, struct index_entry *old,
		   struct index_entry *new);
void index_remove(struct index_table *t, struct index_entry *entry);
/* Borrowed pointer to the entry of a type in type_mask, or NULL. */
struct index_entry *index_lookup(const struct index_table *t, uint32_t index,
				 unsigned type_mask);

#endif
