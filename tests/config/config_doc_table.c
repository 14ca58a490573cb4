/*
 * config_doc_table.c - regenerates the key table of docs/configuration.md from the schema.
 *
 *     build/test/config_doc_table                         # print the table
 *     build/test/config_doc_table docs/configuration.md   # rewrite it between the markers
 */
#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char begin[] = "<!-- BEGIN GENERATED KEY TABLE -->\n";
static const char end[] = "<!-- END GENERATED KEY TABLE -->";

int main(int argc, char **argv)
{
    buf_t table, doc;
    buf_init(&table, 1 << 20);
    buf_init(&doc, 1 << 22);
    if (config_doc_table(&table) != 0)
        return 1;
    if (argc < 2) {
        fputs(table.data, stdout);
        return 0;
    }
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL) {
        perror(argv[1]);
        return 1;
    }
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (buf_append(&doc, chunk, n) != 0)
            return 1;
    fclose(f);
    char *b = doc.data ? strstr(doc.data, begin) : NULL;
    char *e = b ? strstr(b, end) : NULL;
    if (e == NULL) {
        fprintf(stderr, "%s: markers not found\n", argv[1]);
        return 1;
    }
    b += strlen(begin);
    f = fopen(argv[1], "wb");
    if (f == NULL) {
        perror(argv[1]);
        return 1;
    }
    fwrite(doc.data, 1, (size_t)(b - doc.data), f);
    fwrite(table.data, 1, table.len, f);
    fputs(e, f);
    fclose(f);
    buf_free(&doc);
    buf_free(&table);
    return 0;
}
