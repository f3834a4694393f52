/* libmicrohttpd, opened when a daemon first starts an HTTP listener (the
 * controller's API, a Status listener): it brings GnuTLS and p11-kit. The
 * variadic calls: MHD_start_daemon goes through MHD_start_daemon_va; the
 * two info getters take no extra argument for the kinds we ask. */
#include <microhttpd.h>
#include <stdarg.h>

#include <stddef.h>

#include "lazy/lazy.h"

static struct lazy_lib lib = { "libmicrohttpd.so.12", "libmicrohttpd12",
			       NULL };

LAZY_FN(lib, struct MHD_Daemon *, MHD_start_daemon_va,
	(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc,
	 void *apc_cls, MHD_AccessHandlerCallback dh, void *dh_cls,
	 va_list ap),
	(flags, port, apc, apc_cls, dh, dh_cls, ap))

struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port,
				    MHD_AcceptPolicyCallback apc,
				    void *apc_cls,
				    MHD_AccessHandlerCallback dh,
				    void *dh_cls, ...)
{
	struct MHD_Daemon *d;
	va_list ap;

	va_start(ap, dh_cls);
	d = MHD_start_daemon_va(flags, port, apc, apc_cls, dh, dh_cls, ap);
	va_end(ap);
	return d;
}

LAZY_VOID(lib, MHD_stop_daemon, (struct MHD_Daemon *d), (d))
LAZY_FN(lib, MHD_socket, MHD_quiesce_daemon, (struct MHD_Daemon *d), (d))
LAZY_FN(lib, enum MHD_Result, MHD_run, (struct MHD_Daemon *d), (d))
LAZY_FN(lib, enum MHD_Result, MHD_add_response_header,
	(struct MHD_Response *r, const char *h, const char *v), (r, h, v))
LAZY_FN(lib, struct MHD_Response *, MHD_create_response_from_buffer,
	(size_t size, void *buf, enum MHD_ResponseMemoryMode mode),
	(size, buf, mode))
LAZY_FN(lib, struct MHD_Response *,
	MHD_create_response_from_buffer_with_free_callback,
	(size_t size, void *buf, MHD_ContentReaderFreeCallback fcb),
	(size, buf, fcb))
LAZY_VOID(lib, MHD_destroy_response, (struct MHD_Response *r), (r))
LAZY_FN(lib, enum MHD_Result, MHD_queue_response,
	(struct MHD_Connection *c, unsigned int code, struct MHD_Response *r),
	(c, code, r))
LAZY_FN(lib, const char *, MHD_lookup_connection_value,
	(struct MHD_Connection *c, enum MHD_ValueKind kind, const char *key),
	(c, kind, key))
LAZY_VOID(lib, MHD_suspend_connection, (struct MHD_Connection *c), (c))
LAZY_VOID(lib, MHD_resume_connection, (struct MHD_Connection *c), (c))

const union MHD_ConnectionInfo *
MHD_get_connection_info(struct MHD_Connection *c,
			enum MHD_ConnectionInfoType type, ...)
{
	static const union MHD_ConnectionInfo *(*fn)(
		struct MHD_Connection *, enum MHD_ConnectionInfoType, ...);

	if (!__atomic_load_n(&fn, __ATOMIC_ACQUIRE))
		__atomic_store_n(&fn, lazy_sym(&lib, "MHD_get_connection_info"),
				 __ATOMIC_RELEASE);
	return fn(c, type);
}

const union MHD_DaemonInfo *MHD_get_daemon_info(struct MHD_Daemon *d,
						enum MHD_DaemonInfoType type,
						...)
{
	static const union MHD_DaemonInfo *(*fn)(struct MHD_Daemon *,
						 enum MHD_DaemonInfoType, ...);

	if (!__atomic_load_n(&fn, __ATOMIC_ACQUIRE))
		__atomic_store_n(&fn, lazy_sym(&lib, "MHD_get_daemon_info"),
				 __ATOMIC_RELEASE);
	return fn(d, type);
}
LAZY_FN(lib, enum MHD_Result, MHD_get_timeout, (struct MHD_Daemon *d, MHD_UNSIGNED_LONG_LONG *t), (d, t))
