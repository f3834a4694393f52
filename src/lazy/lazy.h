/* Libraries only some roles use (the controller's stores and HTTP server,
 * the agent's HTTP client, QR codes) are opened on first use, so a device
 * daemon or `spokewire genkey` does not load and initialise them (GnuTLS,
 * Kerberos, LDAP, ... come with them). The wrappers in this directory
 * define the libraries' functions under their own names and forward to
 * the real ones; callers are unchanged. */
#ifndef SPOKEWIRE_LAZY_LAZY_H
#define SPOKEWIRE_LAZY_LAZY_H

struct lazy_lib {
	const char *soname;  /* "libsqlite3.so.0" */
	const char *package; /* the Debian package that has it, for errors */
	void *handle;
};

/* name in lib, opened on first use; exits with a message naming the
 * package when the library or the symbol is missing. Thread-safe. */
void *lazy_sym(struct lazy_lib *lib, const char *name);

/* A wrapper with the real function's name, type and arguments. */
#define LAZY_FN(lib, ret, name, params, args)                              \
	ret name params                                                     \
	{                                                                   \
		static ret(*lazy_fn_) params;                               \
		ret(*lazy_f_) params =                                      \
			__atomic_load_n(&lazy_fn_, __ATOMIC_ACQUIRE);       \
		if (!lazy_f_) {                                             \
			lazy_f_ = (ret(*) params)lazy_sym(&lib, #name);     \
			__atomic_store_n(&lazy_fn_, lazy_f_,                \
					 __ATOMIC_RELEASE);                 \
		}                                                           \
		return lazy_f_ args;                                        \
	}
#define LAZY_VOID(lib, name, params, args)                                 \
	void name params                                                    \
	{                                                                   \
		static void(*lazy_fn_) params;                              \
		void(*lazy_f_) params =                                     \
			__atomic_load_n(&lazy_fn_, __ATOMIC_ACQUIRE);       \
		if (!lazy_f_) {                                             \
			lazy_f_ = (void(*) params)lazy_sym(&lib, #name);    \
			__atomic_store_n(&lazy_fn_, lazy_f_,                \
					 __ATOMIC_RELEASE);                 \
		}                                                           \
		lazy_f_ args;                                               \
	}

#endif
