/*
 * matcher.c - Alertmanager's label matchers: the string syntax of `matchers`, `match` /
 * `match_re` entries, matching, the canonical order and text used in route keys, and the
 * label-set fingerprint.
 *
 * The string syntax is Alertmanager 0.25's (pkg/labels/parse.go): an optional {...}, items
 * split on commas outside double quotes, each `name op value` with name
 * [a-zA-Z_:][a-zA-Z0-9_:]*, op one of = != =~ !~, the value optionally double-quoted with \" \\
 * \n escapes; the messages are amtool's. Regexes are anchored: ^(?:value)$.
 */
#include "notify/notify_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool nm_valid_label_name(const char *s)
{
    if (s == NULL || !(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

const char *nm_label(const notify_kv_t *labels, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(labels[i].name, name) == 0)
            return labels[i].value;
    return "";
}

int nm_add(nmatchers_t *ms, const char *name, const char *value, nm_op_t op, char *why,
           size_t why_len)
{
    nmatcher_t *m = realloc(ms->m, (ms->n + 1) * sizeof(*m));
    if (m == NULL)
        return snprintf(why, why_len, "out of memory"), VIGIL_ENOMEM;
    ms->m = m;
    nmatcher_t *x = &m[ms->n];
    memset(x, 0, sizeof(*x));
    x->op = op;
    if ((x->name = strdup(name)) == NULL || (x->value = strdup(value)) == NULL) {
        free(x->name);
        return snprintf(why, why_len, "out of memory"), VIGIL_ENOMEM;
    }
    if (op == NM_RE || op == NM_NRE) {
        vigil_error_t err;
        int rc = re2posix_compile(&x->re, value, RE2POSIX_ANCHORED | RE2POSIX_NOSUB, &err);
        if (rc != 0) {
            snprintf(why, why_len, "%s", err.message);
            free(x->name);
            free(x->value);
            return rc == VIGIL_ENOTSUP ? VIGIL_ENOTSUP : VIGIL_EPARSE;
        }
    }
    ms->n++;
    return 0;
}

void nm_free(nmatchers_t *ms)
{
    for (size_t i = 0; i < ms->n; i++) {
        free(ms->m[i].name);
        free(ms->m[i].value);
        re2posix_free(&ms->m[i].re);
    }
    free(ms->m);
    ms->m = NULL;
    ms->n = 0;
}

/* One "name op value" item. */
static int parse_one(nmatchers_t *ms, const char *item, size_t len, char *why, size_t why_len)
{
    char *s = strndup(item, len);
    if (s == NULL)
        return snprintf(why, why_len, "out of memory"), VIGIL_ENOMEM;
    const char *p = s;
    int rc = VIGIL_EPARSE;
    while (isspace((unsigned char)*p))
        p++;
    const char *name = p;
    if (!(isalpha((unsigned char)*p) || *p == '_' || *p == ':'))
        goto bad;
    while (isalnum((unsigned char)*p) || *p == '_' || *p == ':')
        p++;
    size_t nlen = (size_t)(p - name);
    while (isspace((unsigned char)*p))
        p++;
    nm_op_t op;
    if (strncmp(p, "=~", 2) == 0) op = NM_RE, p += 2;
    else if (strncmp(p, "!=", 2) == 0) op = NM_NE, p += 2;
    else if (strncmp(p, "!~", 2) == 0) op = NM_NRE, p += 2;
    else if (*p == '=') op = NM_EQ, p += 1;
    else goto bad;
    while (isspace((unsigned char)*p))
        p++;
    /* value: up to the end, trailing spaces trimmed */
    const char *raw = p;
    size_t rlen = strlen(raw);
    while (rlen > 0 && isspace((unsigned char)raw[rlen - 1]))
        rlen--;
    buf_t v;
    buf_init(&v, rlen + 1);
    bool quoted = rlen > 0 && raw[0] == '"';
    size_t i = quoted ? 1 : 0;
    for (; i < rlen; i++) {
        char c = raw[i];
        if (c == '\\' && i + 1 < rlen) {
            char e = raw[++i];
            if (e == 'n')
                buf_putc(&v, '\n');
            else if (e == '"' || e == '\\')
                buf_putc(&v, e);
            else {
                buf_putc(&v, '\\');
                buf_putc(&v, e);
            }
        } else if (c == '"') {
            if (!quoted || i != rlen - 1) {
                buf_free(&v);
                snprintf(why, why_len, "matcher value contains unescaped double quote: %.*s",
                         (int)rlen, raw);
                goto out;
            }
            quoted = false;
        } else {
            buf_putc(&v, c);
        }
    }
    if (quoted) {
        buf_free(&v);
        snprintf(why, why_len, "matcher value contains unescaped double quote: %.*s",
                 (int)rlen, raw);
        goto out;
    }
    char nm[256];
    snprintf(nm, sizeof(nm), "%.*s", (int)(nlen < 255 ? nlen : 255), name);
    rc = nm_add(ms, nm, v.data ? v.data : "", op, why, why_len);
    buf_free(&v);
    goto out;
bad:
    snprintf(why, why_len, "bad matcher format: %s", s);
out:
    free(s);
    return rc;
}

int nm_parse(nmatchers_t *ms, const char *text, char *why, size_t why_len)
{
    size_t len = strlen(text);
    const char *s = text;
    if (len > 0 && s[0] == '{') {
        s++;
        len--;
    }
    if (len > 0 && s[len - 1] == '}')
        len--;
    bool inq = false;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] == '"' && !(i > 0 && s[i - 1] == '\\'))
            inq = !inq;
        if (i == len || (!inq && s[i] == ',')) {
            bool last = i == len;
            const char *item = s + start;
            size_t ilen = i - start;
            size_t k = 0;
            while (k < ilen && isspace((unsigned char)item[k]))
                k++;
            if (!(last && k == ilen)) {  /* a trailing empty item is dropped */
                int rc = parse_one(ms, item, ilen, why, why_len);
                if (rc != 0)
                    return rc;
            }
            start = i + 1;
        }
    }
    return 0;
}

static int cmp_matcher(const void *a, const void *b)
{
    const nmatcher_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c == 0)
        c = strcmp(x->value, y->value);
    return c != 0 ? c : (int)x->op - (int)y->op;
}

void nm_sort(nmatchers_t *ms)
{
    if (ms->n > 1)
        qsort(ms->m, ms->n, sizeof(*ms->m), cmp_matcher);
}

bool nm_matches(const nmatchers_t *ms, const notify_kv_t *labels, size_t n)
{
    for (size_t i = 0; i < ms->n; i++) {
        const nmatcher_t *m = &ms->m[i];
        const char *v = nm_label(labels, n, m->name);
        bool ok;
        switch (m->op) {
        case NM_EQ:  ok = strcmp(v, m->value) == 0; break;
        case NM_NE:  ok = strcmp(v, m->value) != 0; break;
        case NM_RE:  ok = re2posix_matches(&m->re, v); break;
        default:     ok = !re2posix_matches(&m->re, v); break;
        }
        if (!ok)
            return false;
    }
    return true;
}

int nm_format(const nmatchers_t *ms, buf_t *b)
{
    static const char *const ops[] = { "=", "!=", "=~", "!~" };
    int rc = buf_putc(b, '{');
    for (size_t i = 0; rc == 0 && i < ms->n; i++) {
        if (i > 0)
            rc = buf_putc(b, ',');
        if (rc == 0)
            rc = buf_printf(b, "%s%s", ms->m[i].name, ops[ms->m[i].op]);
        if (rc == 0)
            rc = buf_put_go_quoted(b, ms->m[i].value);
    }
    return rc != 0 ? rc : buf_putc(b, '}');
}

static int cmp_kv_ptr(const void *a, const void *b)
{
    const notify_kv_t *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

uint64_t notify_fingerprint(const notify_kv_t *labels, size_t n)
{
    const uint64_t prime = 1099511628211ULL;
    uint64_t h = 14695981039346656037ULL;
    const notify_kv_t *stack[64];
    const notify_kv_t **order = n <= 64 ? stack : malloc(n * sizeof(*order));
    if (order == NULL)
        return 0;
    for (size_t i = 0; i < n; i++)
        order[i] = &labels[i];
    qsort(order, n, sizeof(*order), cmp_kv_ptr);
    for (size_t i = 0; i < n; i++) {
        for (const char *p = order[i]->name; *p; p++)
            h = (h ^ (unsigned char)*p) * prime;
        h = (h ^ 255u) * prime;
        for (const char *p = order[i]->value; *p; p++)
            h = (h ^ (unsigned char)*p) * prime;
        h = (h ^ 255u) * prime;
    }
    if (order != stack)
        free(order);
    return h;
}
