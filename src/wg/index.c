/* Chained hash table of receiver indices. Indices are random, so the low bits
 * hash well; a peer cannot choose the indices we assign. */
#include "wg/index.h"

#include <errno.h>
#include <stdlib.h>

#include "crypto/crypto.h"

int index_table_init(struct index_table *t, unsigned bits)
{
	t->buckets = calloc(1u << bits, sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	t->mask = (1u << bits) - 1;
	t->count = 0;
	return 0;
}

void index_table_free(struct index_table *t)
{
	free(t->buckets);
	t->buckets = NULL;
}

static struct index_entry **bucket(const struct index_table *t, uint32_t idx)
{
	return &t->buckets[(idx ^ (idx >> 16)) & t->mask];
}

static struct index_entry *find(const struct index_table *t, uint32_t idx)
{
	struct index_entry *e;

	for (e = *bucket(t, idx); e; e = e->next)
		if (e->index == idx)
			return e;
	return NULL;
}

void index_remove(struct index_table *t, struct index_entry *entry)
{
	struct index_entry **pp;

	if (!entry->hashed)
		return;
	for (pp = bucket(t, entry->index); *pp; pp = &(*pp)->next) {
		if (*pp == entry) {
			*pp = entry->next;
			break;
		}
	}
	entry->next = NULL;
	entry->hashed = 0;
	t->count--;
}

uint32_t index_insert(struct index_table *t, struct index_entry *entry)
{
	struct index_entry **b;
	uint32_t idx;

	index_remove(t, entry);
	do
		idx = random_u32();
	while (find(t, idx));
	entry->index = idx;
	b = bucket(t, idx);
	entry->next = *b;
	*b = entry;
	entry->hashed = 1;
	t->count++;
	return idx;
}

void index_replace(struct index_table *t, struct index_entry *old,
		   struct index_entry *new)
{
	struct index_entry **pp;

	if (!old->hashed)
		return;
	index_remove(t, new);
	for (pp = bucket(t, old->index); *pp; pp = &(*pp)->next) {
		if (*pp == old) {
			new->index = old->index;
			new->next = old->next;
			new->hashed = 1;
			*pp = new;
			old->next = NULL;
			old->hashed = 0;
			return;
		}
	}
}

struct index_entry *index_lookup(const struct index_table *t, uint32_t index,
				 unsigned type_mask)
{
	struct index_entry *e = find(t, index);

	return e && (e->type & type_mask) ? e : NULL;
}
