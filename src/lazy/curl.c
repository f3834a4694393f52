/* libcurl, opened when the agent (or `status URL`) first makes a request.
 * The two variadic calls forward their one argument by its type, as curl
 * reads it: setopt by the option's number range, getinfo always a
 * pointer. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <stdarg.h>

#include <stddef.h>

#include "lazy/lazy.h"

static struct lazy_lib lib = { "libcurl.so.4", "libcurl4", NULL };

LAZY_FN(lib, CURLcode, curl_global_init, (long flags), (flags))
LAZY_VOID(lib, curl_global_cleanup, (void), ())
LAZY_FN(lib, CURL *, curl_easy_init, (void), ())
LAZY_VOID(lib, curl_easy_cleanup, (CURL *c), (c))
LAZY_FN(lib, CURLcode, curl_easy_perform, (CURL *c), (c))
LAZY_FN(lib, const char *, curl_easy_strerror, (CURLcode rc), (rc))
LAZY_FN(lib, struct curl_slist *, curl_slist_append,
	(struct curl_slist *l, const char *s), (l, s))
LAZY_VOID(lib, curl_slist_free_all, (struct curl_slist *l), (l))

CURLcode curl_easy_setopt(CURL *c, CURLoption opt, ...)
{
	static CURLcode (*fn)(CURL *, CURLoption, ...);
	CURLcode (*f)(CURL *, CURLoption, ...) =
		__atomic_load_n(&fn, __ATOMIC_ACQUIRE);
	CURLcode rc;
	va_list ap;

	if (!f) {
		f = (CURLcode(*)(CURL *, CURLoption, ...))lazy_sym(
			&lib, "curl_easy_setopt");
		__atomic_store_n(&fn, f, __ATOMIC_RELEASE);
	}
	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = f(c, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = f(c, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = f(c, opt, va_arg(ap, void (*)(void)));
	else if (opt < CURLOPTTYPE_BLOB)
		rc = f(c, opt, va_arg(ap, curl_off_t));
	else
		rc = f(c, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode curl_easy_getinfo(CURL *c, CURLINFO info, ...)
{
	static CURLcode (*fn)(CURL *, CURLINFO, ...);
	CURLcode (*f)(CURL *, CURLINFO, ...) =
		__atomic_load_n(&fn, __ATOMIC_ACQUIRE);
	CURLcode rc;
	va_list ap;

	if (!f) {
		f = (CURLcode(*)(CURL *, CURLINFO, ...))lazy_sym(
			&lib, "curl_easy_getinfo");
		__atomic_store_n(&fn, f, __ATOMIC_RELEASE);
	}
	va_start(ap, info);
	rc = f(c, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}
