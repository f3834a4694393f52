/* Opening a library on first use (see lazy.h). */
#include "lazy/lazy.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void *lazy_sym(struct lazy_lib *lib, const char *name)
{
	void *sym;

	pthread_mutex_lock(&lock);
	if (!lib->handle) {
		lib->handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
		if (!lib->handle) {
			fprintf(stderr, "spokewire: %s is needed here (Debian package %s): %s\n",
				lib->soname, lib->package, dlerror());
			exit(127);
		}
	}
	sym = dlsym(lib->handle, name);
	pthread_mutex_unlock(&lock);
	if (!sym) {
		fprintf(stderr, "spokewire: %s has no %s (an older %s?)\n",
			lib->soname, name, lib->package);
		exit(127);
	}
	return sym;
}
