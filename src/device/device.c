/* placeholder until the device daemon lands */
#include <stdio.h>
#include "cli/cli.h"
int cmd_device(int argc, char *argv[])
{
	fprintf(stderr, "%s: device not implemented yet\n", prog_name);
	return 1;
}
