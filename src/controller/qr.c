/* QR codes of device configs, for phones: SVG for browsers, ANSI colour
 * blocks for a terminal (like `qrencode -t ansiutf8`). The buffers hold a
 * private key; they are wiped when they grow and the caller wipes them
 * after use. */
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/netmap.h"

enum { QR_MARGIN = 4 };

struct out {
	char *buf;
	size_t len;
	size_t cap;
	bool failed;
};

static void put(struct out *o, const char *s, size_t n)
{
	char *nbuf;
	size_t cap;

	if (o->failed)
		return;
	if (o->len + n + 1 > o->cap) {
		cap = (o->len + n + 1) * 2;
		nbuf = malloc(cap);
		if (!nbuf) {
			o->failed = true;
			return;
		}
		if (o->buf) {
			memcpy(nbuf, o->buf, o->len);
			memzero(o->buf, o->cap);
			free(o->buf);
		}
		o->buf = nbuf;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static char *finish(struct out *o, QRcode *qr, size_t *len)
{
	QRcode_free(qr);
	if (o->failed) {
		if (o->buf)
			memzero(o->buf, o->cap);
		free(o->buf);
		return NULL;
	}
	*len = o->len;
	return o->buf;
}

static QRcode *encode(const char *text)
{
	return QRcode_encodeString8bit(text, 0, QR_ECLEVEL_L);
}

char *qr_svg(const char *text, size_t *len)
{
	QRcode *qr = encode(text);
	struct out o = { 0 };
	char buf[96];
	int x, y, size;

	if (!qr)
		return NULL;
	size = qr->width + 2 * QR_MARGIN;
	snprintf(buf, sizeof(buf),
		 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		 "<svg xmlns=\"http://www.w3.org/2000/svg\" ");
	puts_(&o, buf);
	snprintf(buf, sizeof(buf),
		 "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\">\n", size,
		 size, size * 8, size * 8);
	puts_(&o, buf);
	puts_(&o, "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n"
		  "<path fill=\"#000\" shape-rendering=\"crispEdges\" d=\"");
	for (y = 0; y < qr->width; ++y) {
		for (x = 0; x < qr->width; ++x) {
			if (!(qr->data[y * qr->width + x] & 1))
				continue;
			snprintf(buf, sizeof(buf), "M%d %dh1v1h-1z",
				 x + QR_MARGIN, y + QR_MARGIN);
			puts_(&o, buf);
		}
	}
	puts_(&o, "\"/>\n</svg>\n");
	return finish(&o, qr, len);
}

char *qr_ansi(const char *text, size_t *len)
{
	static const char white[] = "\033[47m  ", black[] = "\033[40m  ";
	static const char eol[] = "\033[0m\n";
	QRcode *qr = encode(text);
	struct out o = { 0 };
	int x, y, w;

	if (!qr)
		return NULL;
	w = qr->width + 2 * QR_MARGIN;
	for (y = -QR_MARGIN; y < qr->width + QR_MARGIN; ++y) {
		for (x = 0; x < w; ++x) {
			int qx = x - QR_MARGIN;
			bool dark = y >= 0 && y < qr->width && qx >= 0 &&
				    qx < qr->width &&
				    (qr->data[y * qr->width + qx] & 1);

			puts_(&o, dark ? black : white);
		}
		puts_(&o, eol);
	}
	return finish(&o, qr, len);
}
