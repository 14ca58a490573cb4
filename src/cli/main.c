/*
 * main.c - the vigil binary: everything is a command in the table of cli.c.
 */
#include "cli/cli.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
