/*
 * check_metrics_main.c - runs `vigil check metrics` (cmd_check_metrics) as its own program, so
 * the conformance test does not depend on the row of the command table: argv is the command's
 * arguments, stdin the exposition, the exit status the command's.
 */
int cmd_check_metrics(int argc, char **argv);

int main(int argc, char **argv)
{
    char name[] = "metrics";
    argv[0] = name;
    return cmd_check_metrics(argc, argv);
}
