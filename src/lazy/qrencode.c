/* libqrencode, opened when the first QR code is drawn. */
#include <qrencode.h>
#include <stddef.h>

#include "lazy/lazy.h"

static struct lazy_lib lib = { "libqrencode.so.4", "libqrencode4", NULL };

LAZY_FN(lib, QRcode *, QRcode_encodeString8bit,
	(const char *s, int version, QRecLevel level), (s, version, level))
LAZY_VOID(lib, QRcode_free, (QRcode *q), (q))
