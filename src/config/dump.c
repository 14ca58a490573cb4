/*
 * dump.c - the configuration back to text: values, the effective YAML, the docs table.
 *
 * config_dump_yaml() output must load again to an equal config (GET /api/v1/status/config,
 * and a tested round trip), so every value is printed in the exact syntax the loader accepts:
 * strings double-quoted, durations the way Prometheus prints them, sizes in exact IEC units.
 */
#include "config/config_int.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/*
 * Appends `s` as a YAML double-quoted scalar. Characters YAML would not read back verbatim
 * are escaped: controls and C1 controls (raw ones are rejected by YAML readers), and the
 * Unicode line breaks NEL, LS and PS (a raw one would be folded into a space).
 */
static int put_quoted(buf_t *out, const char *s)
{
    int rc = buf_putc(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; rc == 0 && *p != '\0';) {
        uint32_t c;
        size_t len = config_utf8_decode(p, &c);
        if (len == 0) {  /* config_set() rejects invalid UTF-8; never reached */
            rc = buf_putc(out, (char)*p++);
            continue;
        }
        if (c == '"' || c == '\\')
            rc = buf_printf(out, "\\%c", (char)c);
        else if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
            rc = buf_printf(out, "\\x%02x", (unsigned)c);
        else if (c == 0x2028 || c == 0x2029 || c == 0xfeff || c == 0xfffe || c == 0xffff)
            rc = buf_printf(out, "\\u%04x", (unsigned)c);
        else
            rc = buf_append(out, p, len);
        p += len;
    }
    return rc != 0 ? rc : buf_putc(out, '"');
}

int config_format_value(const config_t *cfg, const config_key_t *key, buf_t *out)
{
    const void *f = config_field(cfg, key);
    char tmp[64];
    switch (key->type) {
    case CONFIG_STRING:
    case CONFIG_ADDRESS:
        return put_quoted(out, *(char *const *)f);
    case CONFIG_BOOL:
        return buf_puts(out, *(const bool *)f ? "true" : "false");
    case CONFIG_INT:
        return buf_printf(out, "%d", *(const int *)f);
    case CONFIG_ENUM:
        return buf_puts(out, key->choices[*(const int *)f]);
    case CONFIG_DOUBLE:
        config_format_number(*(const double *)f, tmp, sizeof(tmp));
        return buf_puts(out, tmp);
    case CONFIG_DURATION:
        config_format_duration((uint64_t)llround(*(const double *)f * 1000.0), tmp,
                               sizeof(tmp));
        return buf_puts(out, tmp);
    case CONFIG_SIZE:
        config_format_size(*(const uint64_t *)f, tmp, sizeof(tmp));
        return buf_puts(out, tmp);
    case CONFIG_NUMBER_LIST: {
        const config_number_list_t *l = f;
        int rc = buf_putc(out, '[');
        for (size_t i = 0; rc == 0 && i < l->count; i++) {
            config_format_number(l->items[i], tmp, sizeof(tmp));
            rc = buf_printf(out, "%s%s", i ? ", " : "", tmp);
        }
        return rc != 0 ? rc : buf_putc(out, ']');
    }
    case CONFIG_STRING_LIST: {
        const config_string_list_t *l = f;
        int rc = buf_putc(out, '[');
        for (size_t i = 0; rc == 0 && i < l->count; i++) {
            if (i > 0)
                rc = buf_puts(out, ", ");
            if (rc == 0)
                rc = put_quoted(out, l->items[i]);
        }
        return rc != 0 ? rc : buf_putc(out, ']');
    }
    case CONFIG_TYPE_COUNT_:
        break;
    }
    return VIGIL_EINVAL;
}

/* Number of dotted components of `key` before its last one ("health.memory.warning" -> 2),
 * with their starts in `starts`. */
static size_t sections_of(const char *key, const char *starts[4], size_t lens[4])
{
    size_t n = 0;
    const char *p = key;
    for (const char *dot; (dot = strchr(p, '.')) != NULL && n < 4; p = dot + 1) {
        starts[n] = p;
        lens[n] = (size_t)(dot - p);
        n++;
    }
    return n;
}

int config_dump_yaml(const config_t *cfg, buf_t *out)
{
    size_t count;
    const config_key_t *keys = config_keys(&count);
    const char *open[4];  /* the sections the previous key sat in */
    size_t open_len[4], open_n = 0;
    int rc = buf_puts(out, "# vigil effective configuration\n");

    for (size_t i = 0; rc == 0 && i < count; i++) {
        const char *sec[4];
        size_t sec_len[4];
        size_t n = sections_of(keys[i].key, sec, sec_len);
        size_t same = 0;
        while (same < n && same < open_n && sec_len[same] == open_len[same] &&
               strncmp(sec[same], open[same], sec_len[same]) == 0)
            same++;
        /* Schema rows of a section are contiguous, so a section opens once. */
        for (size_t d = same; rc == 0 && d < n; d++)
            rc = buf_printf(out, "%*s%.*s:\n", (int)(2 * d), "", (int)sec_len[d], sec[d]);
        memcpy(open, sec, sizeof(sec));
        memcpy(open_len, sec_len, sizeof(sec_len));
        open_n = n;
        const char *leaf = strrchr(keys[i].key, '.');
        leaf = leaf ? leaf + 1 : keys[i].key;
        if (rc == 0)
            rc = buf_printf(out, "%*s%s: ", (int)(2 * n), "", leaf);
        if (rc == 0)
            rc = config_format_value(cfg, &keys[i], out);
        if (rc == 0)
            rc = buf_putc(out, '\n');
    }
    return rc;
}

int config_doc_table(buf_t *out)
{
    size_t count;
    const config_key_t *keys = config_keys(&count);
    int rc = buf_puts(out, "| key | type | default | range or choices | meaning |\n"
                           "|---|---|---|---|---|\n");
    for (size_t i = 0; rc == 0 && i < count; i++) {
        const config_key_t *k = &keys[i];
        char range[256] = "";
        switch (k->type) {
        case CONFIG_INT:
        case CONFIG_DOUBLE:
        case CONFIG_DURATION:
        case CONFIG_SIZE:
            config_format_range(k, range, sizeof(range));
            break;
        case CONFIG_NUMBER_LIST:
            config_format_range(k, range, sizeof(range));
            snprintf(range + strlen(range), sizeof(range) - strlen(range), " each%s",
                     (k->flags & CONFIG_F_INCREASING) ? ", increasing" : "");
            break;
        case CONFIG_ENUM:
            for (size_t o = 0, j = 0; k->choices[j] != NULL; j++)
                o += (size_t)snprintf(range + o, sizeof(range) - o, "%s`%s`", j ? ", " : "",
                                      k->choices[j]);
            break;
        case CONFIG_STRING:
            if (k->flags & CONFIG_F_NONEMPTY)
                snprintf(range, sizeof(range), "non-empty");
            else if (k->flags & CONFIG_F_REGEX)
                snprintf(range, sizeof(range), "POSIX extended regex");
            break;
        case CONFIG_ADDRESS:
            snprintf(range, sizeof(range), "port 0..65535 (0: any free port)");
            break;
        default:
            break;
        }
        rc = buf_printf(out, "| `%s` | %s | `%s` | %s | %s%s |\n", k->key,
                        config_type_name(k->type), *k->def ? k->def : "\"\"", range, k->doc,
                        (k->flags & CONFIG_F_RESTART) ? "; needs a restart" : "");
    }
    return rc;
}
