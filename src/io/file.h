/* Whole files: read into memory, written atomically. */
#ifndef SPOKEWIRE_IO_FILE_H
#define SPOKEWIRE_IO_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Writes path atomically: a temp file beside it (mode), fsync, rename,
 * fsync of the directory. 0 or -errno; on error path is untouched. */
int file_write_atomic(const char *path, const char *data, size_t len,
		      mode_t mode);
/* Reads path (at most max bytes, else -EFBIG) into a NUL-terminated
 * buffer the caller frees. 0 or -errno. */
int file_read_all(const char *path, size_t max, char **out, size_t *len);

#endif
