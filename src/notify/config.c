/*
 * config.c - the Alertmanager configuration file -> notify_config_t.
 *
 * Parsing follows src/config/load.c: config/yamldoc.h gives a node graph with marks, we
 * walk it against field tables, and every error names the node it is about as
 * "file:line:col: message" (1-based). Unknown fields and repeated keys are errors, as they are
 * for Alertmanager's strict YAML decoding; the semantic checks and their messages are
 * amtool check-config's (Alertmanager 0.25), so the verdicts agree. Parts of the format vigil
 * does not implement yet (time intervals, http_config, *_file secrets, integrations other than
 * webhook, slack, pagerduty and email) are refused with "not supported yet", never ignored.
 *
 * Loading is all or nothing: *out is set only when the whole file is good.
 */
#include "config/yamldoc.h"
#include "notify/notify_int.h"
#include "util/duration.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOTIFY_FILE_MAX (4u * 1024 * 1024)
#define NOTIFY_MAX_ROUTE_DEPTH 64

/* Alertmanager's YAML as amtool reads it: syntax errors in its words, the first document only,
 * and merge keys not read (yamldoc_next(): "<<" is an unknown field). */
static const yamldoc_opts_t notify_yaml = {
    .max_len = NOTIFY_FILE_MAX,
    .syntax = YAMLDOC_SYNTAX_AMTOOL,
};

struct nloader {
    const char      *name;
    yaml_document_t *doc;
    vigil_error_t   *err;
    notify_config_t *cfg;
    unsigned         flags;
    int              rc;
};

int nloader_fail(nloader_t *ld, const nyaml_node_t *node, int code, const char *fmt, ...)
{
    if (ld->rc != 0)
        return ld->rc;
    va_list ap;
    va_start(ap, fmt);
    if (node != NULL) {
        ld->rc = yamldoc_verror(ld->err, code, ld->name, node, fmt, ap);
    } else {
        char msg[sizeof(ld->err->message)];
        vsnprintf(msg, sizeof(msg), fmt, ap);
        ld->rc = vigil_error_set(ld->err, code, "%s: %s", ld->name, msg);
    }
    va_end(ap);
    return ld->rc;
}

const nglobal_t *nloader_global(const nloader_t *ld) { return &ld->cfg->global; }
const template_t *nloader_lib(const nloader_t *ld) { return ld->cfg->lib; }

static yaml_node_t *node_at(nloader_t *ld, int id) { return yaml_document_get_node(ld->doc, id); }

/* A scalar's text, "" for null (NULL for a non-scalar or a scalar holding NUL, after
 * reporting it). */
static const char *scalar(nloader_t *ld, const yaml_node_t *n, const char *what)
{
    if (n->type != YAML_SCALAR_NODE) {
        nloader_fail(ld, n, VIGIL_EPARSE, "cannot unmarshal %s into %s", yamldoc_go_tag(n),
                     what);
        return NULL;
    }
    const char *s = yamldoc_str(n);
    if (s == NULL)
        nloader_fail(ld, n, VIGIL_EPARSE, "%s contains a NUL byte", what);
    return s;
}

/* The next pair of a mapping read into type `type`; NULL at the end, or at a bad key or a
 * repeated one ("field K already set in type T", as Go's strict decoding says) after
 * reporting it in ld->rc. */
static const yamldoc_pair_t *next_field(nloader_t *ld, yamldoc_iter_t *it, yamldoc_pair_t *p,
                                        const char *type)
{
    const yaml_node_t *first;
    switch (yamldoc_next(it, p, &first)) {
    case YAMLDOC_END:
        return NULL;
    case YAMLDOC_BAD_KEY:
        scalar(ld, p->knode, "string");
        return NULL;
    case YAMLDOC_DUP_KEY:
        nloader_fail(ld, p->knode, VIGIL_EPARSE, "field %s already set in type %s", p->key,
                     type);
        return NULL;
    case YAMLDOC_PAIR:
        break;
    }
    return p;
}

/* Finds the value node of `key` in a mapping (NULL when absent). */
static yaml_node_t *map_get(nloader_t *ld, const yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node_at(ld, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0)
            return node_at(ld, p->value);
    }
    return NULL;
}

const yaml_node_t *nloader_field(nloader_t *ld, const yaml_node_t *node, const char *field)
{
    const yaml_node_t *v = map_get(ld, node, field);
    return v != NULL ? v : node;
}

const char *notify_url_problem(const char *url)
{
    const char *colon = strchr(url, ':');
    const char *slash = strchr(url, '/');
    if (colon == NULL || (slash != NULL && slash < colon) || colon == url)
        return "unsupported scheme \"\" for URL";
    size_t sl = (size_t)(colon - url);
    if (!((sl == 4 && strncasecmp(url, "http", 4) == 0) ||
          (sl == 5 && strncasecmp(url, "https", 5) == 0)))
        return "unsupported scheme for URL (only http and https)";
    if (strncmp(colon, "://", 3) != 0 || colon[3] == '\0' || colon[3] == '/' || colon[3] == '?')
        return "missing host for URL";
    return NULL;
}

/* host:port as net.SplitHostPort wants it. */
static const char *hostport_problem(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL)
        return "missing port in address";
    if (s[0] != '[' && memchr(s, ':', (size_t)(colon - s)) != NULL)
        return "too many colons in address";
    return NULL;
}

static int add_warning(nloader_t *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- generic field reading ------------------------------------------------------------------ */

static int read_bool(nloader_t *ld, const yaml_node_t *n, int *out)
{
    const char *s = scalar(ld, n, "bool");
    if (s == NULL)
        return ld->rc;
    static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On",
                                       "ON", "y", "Y", NULL };
    static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO", "off", "Off",
                                      "OFF", "n", "N", NULL };
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        for (int i = 0; yes[i]; i++)
            if (strcmp(s, yes[i]) == 0)
                return *out = 1, 0;
        for (int i = 0; no[i]; i++)
            if (strcmp(s, no[i]) == 0)
                return *out = 0, 0;
    }
    return nloader_fail(ld, n, VIGIL_EPARSE, "cannot unmarshal !!str `%s` into bool", s);
}

static int read_strlist(nloader_t *ld, const yaml_node_t *n, nstrlist_t *out)
{
    if (yamldoc_is_null(n))
        return 0;
    if (n->type != YAML_SEQUENCE_NODE)
        return nloader_fail(ld, n, VIGIL_EPARSE, "cannot unmarshal %s into []string",
                            yamldoc_go_tag(n));
    size_t count;
    yaml_node_item_t *items = yamldoc_items(n, &count);
    for (size_t i = 0; i < count; i++) {
        const char *s = scalar(ld, node_at(ld, items[i]), "string");
        if (s == NULL)
            return ld->rc;
        char **v = realloc(out->v, (out->n + 1) * sizeof(*v));
        if (v == NULL || (v[out->n] = strdup(s)) == NULL) {
            if (v != NULL)
                out->v = v;
            return nloader_fail(ld, n, VIGIL_ENOMEM, "out of memory");
        }
        out->v = v;
        out->n++;
    }
    return 0;
}

static int read_strmap(nloader_t *ld, const yaml_node_t *n, nstrmap_t *out)
{
    if (yamldoc_is_null(n))
        return 0;
    if (n->type != YAML_MAPPING_NODE)
        return nloader_fail(ld, n, VIGIL_EPARSE, "cannot unmarshal %s into map[string]string",
                            yamldoc_go_tag(n));
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *k = scalar(ld, node_at(ld, p->key), "string");
        const char *v = k ? scalar(ld, node_at(ld, p->value), "string") : NULL;
        if (v == NULL)
            return ld->rc;
        char **ks = realloc(out->k, (out->n + 1) * sizeof(*ks));
        if (ks != NULL)
            out->k = ks;
        char **vs = ks ? realloc(out->v, (out->n + 1) * sizeof(*vs)) : NULL;
        if (vs != NULL)
            out->v = vs;
        if (ks == NULL || vs == NULL || (ks[out->n] = strdup(k)) == NULL)
            return nloader_fail(ld, n, VIGIL_ENOMEM, "out of memory");
        if ((vs[out->n] = strdup(v)) == NULL) {
            free(ks[out->n]);
            return nloader_fail(ld, n, VIGIL_ENOMEM, "out of memory");
        }
        out->n++;
    }
    return 0;
}

static void strlist_free(nstrlist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static void strmap_free(nstrmap_t *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->k[i]);
        free(m->v[i]);
    }
    free(m->k);
    free(m->v);
    memset(m, 0, sizeof(*m));
}

/* Sets every field to "not given": strings NULL, bools -1, durations -1. */
static void fields_init(const nfield_t *f, void *base)
{
    for (; f->name != NULL; f++) {
        char *p = (char *)base + f->offset;
        if (f->type == NF_BOOL || f->type == NF_INT)
            *(int *)p = -1;
        else if (f->type == NF_DURATION)
            *(int64_t *)p = -1;
    }
}

static void fields_free(const nfield_t *f, void *base)
{
    for (; f->name != NULL; f++) {
        char *p = (char *)base + f->offset;
        switch (f->type) {
        case NF_STRING: case NF_TEMPLATE: case NF_SECRET: case NF_URL: case NF_EXTENSION:
            free(*(char **)p);
            *(char **)p = NULL;
            break;
        case NF_STRLIST:
            strlist_free((nstrlist_t *)p);
            break;
        case NF_TMPLMAP:
            strmap_free((nstrmap_t *)p);
            break;
        default:
            break;
        }
    }
}

/* Reads a mapping against `fields` into `base`. `type` names the struct for messages. Keys
 * listed with NF_IGNORED are left for the caller (nested structures). */
static int read_fields(nloader_t *ld, const yaml_node_t *map, const nfield_t *fields,
                       void *base, const char *type)
{
    if (yamldoc_is_null(map))
        return 0;
    if (map->type != YAML_MAPPING_NODE)
        return nloader_fail(ld, map, VIGIL_EPARSE, "cannot unmarshal %s into %s",
                            yamldoc_go_tag(map), type);
    yamldoc_iter_t it;
    yamldoc_pair_t pair;
    const yamldoc_pair_t *p;
    yamldoc_iter_init(&it, ld->doc, map);
    while ((p = next_field(ld, &it, &pair, type)) != NULL) {
        yaml_node_t *key = p->knode, *val = p->value;
        const char *name = p->key;
        const nfield_t *f = fields;
        while (f->name != NULL && strcmp(f->name, name) != 0)
            f++;
        if (f->name == NULL)
            return nloader_fail(ld, key, VIGIL_EPARSE, "field %s not found in type %s", name,
                                type);
        char *dst = (char *)base + f->offset;
        const char *s;
        int64_t ms;
        if (f->type == NF_EXTENSION) {
            if (!(ld->flags & NOTIFY_LOAD_LENIENT))
                return nloader_fail(ld, key, VIGIL_EPARSE, "field %s not found in type %s",
                                    name, type);
            if (add_warning(ld, "%s:%zu:%zu: %s is not an Alertmanager field (amtool rejects "
                            "it); vigil reads it", ld->name, key->start_mark.line + 1,
                            key->start_mark.column + 1, name) != 0)
                return ld->rc;
        }
        switch (f->type) {
        case NF_EXTENSION:
        case NF_STRING: case NF_TEMPLATE: case NF_SECRET: case NF_URL:
            if ((s = scalar(ld, val, "string")) == NULL)
                return ld->rc;
            free(*(char **)dst);
            if ((*(char **)dst = strdup(s)) == NULL)
                return nloader_fail(ld, val, VIGIL_ENOMEM, "out of memory");
            break;
        case NF_BOOL:
            if (read_bool(ld, val, (int *)dst) != 0)
                return ld->rc;
            break;
        case NF_INT: {
            if ((s = scalar(ld, val, "int")) == NULL)
                return ld->rc;
            char *end;
            long v = strtol(s, &end, 10);
            if (*s == '\0' || *end != '\0' || v < 0 || v > 1000000000)
                return nloader_fail(ld, val, VIGIL_EPARSE, "cannot unmarshal !!str `%s` into "
                                    "int", s);
            *(int *)dst = (int)v;
            break;
        }
        case NF_DURATION:
            if ((s = scalar(ld, val, "model.Duration")) == NULL)
                return ld->rc;
            if (duration_parse(s, strlen(s), &ms) != DURATION_OK)
                return nloader_fail(ld, val, VIGIL_EPARSE, "not a valid duration string: \"%s\"",
                                    s);
            *(int64_t *)dst = ms;
            break;
        case NF_STRLIST:
            if (read_strlist(ld, val, (nstrlist_t *)dst) != 0)
                return ld->rc;
            break;
        case NF_TMPLMAP:
            if (read_strmap(ld, val, (nstrmap_t *)dst) != 0)
                return ld->rc;
            break;
        case NF_UNSUPPORTED:
            if (!yamldoc_is_null(val) && !(val->type == YAML_MAPPING_NODE &&
                                   val->data.mapping.pairs.start == val->data.mapping.pairs.top) &&
                !(val->type == YAML_SEQUENCE_NODE &&
                  val->data.sequence.items.start == val->data.sequence.items.top))
                return nloader_fail(ld, key, VIGIL_ENOTSUP, "%s is not supported yet", name);
            break;
        case NF_IGNORED:
            break;
        }
    }
    return ld->rc;
}

/* ---- global ---------------------------------------------------------------------------------- */

typedef struct raw_global {
    int64_t resolve_timeout;
    char   *smtp_from, *smtp_hello, *smtp_smarthost, *smtp_auth_username, *smtp_auth_password,
           *smtp_auth_identity, *smtp_auth_secret, *slack_api_url, *pagerduty_url;
    int     smtp_require_tls;
} raw_global_t;

#define G(f) offsetof(raw_global_t, f)
static const nfield_t global_fields[] = {
    { "resolve_timeout", NF_DURATION, G(resolve_timeout) },
    { "smtp_from", NF_STRING, G(smtp_from) },
    { "smtp_hello", NF_STRING, G(smtp_hello) },
    { "smtp_smarthost", NF_STRING, G(smtp_smarthost) },
    { "smtp_auth_username", NF_STRING, G(smtp_auth_username) },
    { "smtp_auth_password", NF_SECRET, G(smtp_auth_password) },
    { "smtp_auth_identity", NF_STRING, G(smtp_auth_identity) },
    { "smtp_auth_secret", NF_SECRET, G(smtp_auth_secret) },
    { "smtp_require_tls", NF_BOOL, G(smtp_require_tls) },
    { "slack_api_url", NF_URL, G(slack_api_url) },
    { "pagerduty_url", NF_URL, G(pagerduty_url) },
    { "smtp_auth_password_file", NF_UNSUPPORTED, 0 },
    { "slack_api_url_file", NF_UNSUPPORTED, 0 },
    { "http_config", NF_UNSUPPORTED, 0 },
    /* defaults of integrations vigil does not implement: they configure nothing here */
    { "opsgenie_api_url", NF_IGNORED, 0 }, { "opsgenie_api_key", NF_IGNORED, 0 },
    { "opsgenie_api_key_file", NF_IGNORED, 0 }, { "wechat_api_url", NF_IGNORED, 0 },
    { "wechat_api_secret", NF_IGNORED, 0 }, { "wechat_api_corp_id", NF_IGNORED, 0 },
    { "victorops_api_url", NF_IGNORED, 0 }, { "victorops_api_key", NF_IGNORED, 0 },
    { "victorops_api_key_file", NF_IGNORED, 0 }, { "telegram_api_url", NF_IGNORED, 0 },
    { "webex_api_url", NF_IGNORED, 0 },
    { NULL, 0, 0 },
};
#undef G

static int load_global(nloader_t *ld, const yaml_node_t *n)
{
    raw_global_t g;
    memset(&g, 0, sizeof(g));
    fields_init(global_fields, &g);
    nglobal_t *out = &ld->cfg->global;
    int rc = read_fields(ld, n, global_fields, &g, "config.GlobalConfig");
    if (rc == 0 && g.slack_api_url != NULL && notify_url_problem(g.slack_api_url))
        rc = nloader_fail(ld, map_get(ld, n, "slack_api_url"), VIGIL_EPARSE, "%s",
                          notify_url_problem(g.slack_api_url));
    if (rc == 0 && g.pagerduty_url != NULL && notify_url_problem(g.pagerduty_url))
        rc = nloader_fail(ld, map_get(ld, n, "pagerduty_url"), VIGIL_EPARSE, "%s",
                          notify_url_problem(g.pagerduty_url));
    if (rc == 0 && g.smtp_smarthost != NULL && *g.smtp_smarthost &&
        hostport_problem(g.smtp_smarthost))
        rc = nloader_fail(ld, map_get(ld, n, "smtp_smarthost"), VIGIL_EPARSE,
                          "address %s: %s", g.smtp_smarthost, hostport_problem(g.smtp_smarthost));
    out->resolve_timeout_ms = g.resolve_timeout >= 0 ? g.resolve_timeout : 5 * 60 * 1000;
    out->smtp_require_tls = g.smtp_require_tls != 0;  /* default true */
    out->smtp_from = g.smtp_from;
    out->smtp_hello = g.smtp_hello ? g.smtp_hello : strdup("localhost");
    out->smtp_smarthost = g.smtp_smarthost;
    out->smtp_auth_username = g.smtp_auth_username;
    out->smtp_auth_password = g.smtp_auth_password;
    out->smtp_auth_identity = g.smtp_auth_identity;
    out->smtp_auth_secret = g.smtp_auth_secret;
    out->slack_api_url = g.slack_api_url;
    out->pagerduty_url = g.pagerduty_url ? g.pagerduty_url
                                         : strdup("https://events.pagerduty.com/v2/enqueue");
    if (rc == 0 && (out->smtp_hello == NULL || out->pagerduty_url == NULL))
        rc = nloader_fail(ld, n, VIGIL_ENOMEM, "out of memory");
    return rc;
}

static void global_free(nglobal_t *g)
{
    free(g->smtp_from);
    free(g->smtp_hello);
    free(g->smtp_smarthost);
    free(g->smtp_auth_username);
    free(g->smtp_auth_password);
    free(g->smtp_auth_identity);
    free(g->smtp_auth_secret);
    free(g->slack_api_url);
    free(g->pagerduty_url);
}

/* ---- route --------------------------------------------------------------------------------- */

typedef struct raw_route {
    char      *receiver;
    nstrlist_t group_by, matchers, mute, active;
    nstrmap_t  match, match_re;
    int        cont;
    int64_t    group_wait, group_interval, repeat_interval;
} raw_route_t;

#define R(f) offsetof(raw_route_t, f)
static const nfield_t route_fields[] = {
    { "receiver", NF_STRING, R(receiver) },
    { "group_by", NF_STRLIST, R(group_by) },
    { "continue", NF_BOOL, R(cont) },
    { "matchers", NF_STRLIST, R(matchers) },
    { "match", NF_TMPLMAP, R(match) },
    { "match_re", NF_TMPLMAP, R(match_re) },
    { "group_wait", NF_DURATION, R(group_wait) },
    { "group_interval", NF_DURATION, R(group_interval) },
    { "repeat_interval", NF_DURATION, R(repeat_interval) },
    { "mute_time_intervals", NF_STRLIST, R(mute) },
    { "active_time_intervals", NF_STRLIST, R(active) },
    { "routes", NF_IGNORED, 0 },
    { NULL, 0, 0 },
};
#undef R

void nroute_free(nroute_t *r)
{
    free(r->receiver);
    for (size_t i = 0; i < r->ngroup_by; i++)
        free(r->group_by[i]);
    free(r->group_by);
    nm_free(&r->matchers);
    for (size_t i = 0; i < r->nroutes; i++)
        nroute_free(&r->routes[i]);
    free(r->routes);
    free(r->key);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_route(nloader_t *ld, const yaml_node_t *n, nroute_t *r, const nroute_t *parent,
                      int depth)
{
    if (depth > NOTIFY_MAX_ROUTE_DEPTH)
        return nloader_fail(ld, n, VIGIL_ELIMIT, "routes nested deeper than %d",
                            NOTIFY_MAX_ROUTE_DEPTH);
    raw_route_t raw;
    memset(&raw, 0, sizeof(raw));
    fields_init(route_fields, &raw);
    r->line = (int)n->start_mark.line + 1;
    r->col = (int)n->start_mark.column + 1;
    char why[512];
    int rc = read_fields(ld, n, route_fields, &raw, "config.plain");
    if (rc != 0)
        goto out;
    if (raw.mute.n > 0 || raw.active.n > 0) {
        rc = nloader_fail(ld, map_get(ld, n, raw.mute.n ? "mute_time_intervals"
                                                        : "active_time_intervals"),
                          VIGIL_EPARSE, "undefined time interval \"%s\" used in route",
                          raw.mute.n ? raw.mute.v[0] : raw.active.v[0]);
        goto out;
    }
    if (parent == NULL && raw.cont == 1) {
        rc = nloader_fail(ld, n, VIGIL_EPARSE, "cannot have continue in root route");
        goto out;
    }
    /* group_by: "..." alone, or valid and distinct label names */
    const yaml_node_t *gb = map_get(ld, n, "group_by");
    for (size_t i = 0; i < raw.group_by.n; i++) {
        const char *l = raw.group_by.v[i];
        if (strcmp(l, "...") == 0) {
            if (raw.group_by.n != 1) {
                rc = nloader_fail(ld, gb, VIGIL_EPARSE, "cannot have wildcard group_by (`...`) "
                                  "and other other labels at the same time");
                goto out;
            }
            r->group_by_all = true;
            continue;
        }
        if (!nm_valid_label_name(l)) {
            rc = nloader_fail(ld, gb, VIGIL_EPARSE, "invalid label name \"%s\" in group_by list",
                              l);
            goto out;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(raw.group_by.v[j], l) == 0) {
                rc = nloader_fail(ld, gb, VIGIL_EPARSE, "duplicated label \"%s\" in group_by", l);
                goto out;
            }
    }
    if (gb != NULL) {
        if (!r->group_by_all) {
            r->group_by = raw.group_by.v;
            r->ngroup_by = raw.group_by.n;
            raw.group_by.v = NULL;
            raw.group_by.n = 0;
            if (r->ngroup_by > 1)
                qsort(r->group_by, r->ngroup_by, sizeof(char *), cmp_str);
        }
    } else if (parent != NULL) {
        r->group_by_all = parent->group_by_all;
        if (parent->ngroup_by > 0) {
            if ((r->group_by = calloc(parent->ngroup_by, sizeof(char *))) == NULL) {
                rc = nloader_fail(ld, n, VIGIL_ENOMEM, "out of memory");
                goto out;
            }
            for (size_t i = 0; i < parent->ngroup_by; i++) {
                if ((r->group_by[i] = strdup(parent->group_by[i])) == NULL) {
                    rc = nloader_fail(ld, n, VIGIL_ENOMEM, "out of memory");
                    goto out;
                }
                r->ngroup_by++;
            }
        }
    }
    /* matchers: match, match_re, then the new syntax; sorted as Alertmanager sorts them */
    for (size_t i = 0; i < raw.match.n + raw.match_re.n; i++) {
        bool re = i >= raw.match.n;
        const nstrmap_t *m = re ? &raw.match_re : &raw.match;
        size_t k = re ? i - raw.match.n : i;
        const yaml_node_t *where = map_get(ld, n, re ? "match_re" : "match");
        if (!nm_valid_label_name(m->k[k])) {
            rc = nloader_fail(ld, where, VIGIL_EPARSE, "invalid label name \"%s\"", m->k[k]);
            goto out;
        }
        if ((rc = nm_add(&r->matchers, m->k[k], m->v[k], re ? NM_RE : NM_EQ, why,
                         sizeof(why))) != 0) {
            rc = nloader_fail(ld, where, rc, "%s", why);
            goto out;
        }
    }
    for (size_t i = 0; i < raw.matchers.n; i++)
        if ((rc = nm_parse(&r->matchers, raw.matchers.v[i], why, sizeof(why))) != 0) {
            rc = nloader_fail(ld, map_get(ld, n, "matchers"), rc, "%s", why);
            goto out;
        }
    nm_sort(&r->matchers);
    if (parent == NULL && r->matchers.n > 0) {
        rc = nloader_fail(ld, n, VIGIL_EPARSE, "root route must not have any matchers");
        goto out;
    }
    r->cont = raw.cont == 1;
    if (raw.receiver != NULL && *raw.receiver) {
        r->receiver = raw.receiver;
        raw.receiver = NULL;
    } else if (parent != NULL) {
        r->receiver = strdup(parent->receiver);
    } else {
        rc = nloader_fail(ld, n, VIGIL_EPARSE, "root route must specify a default receiver");
        goto out;
    }
    r->group_wait_ms = raw.group_wait >= 0 ? raw.group_wait
                     : parent ? parent->group_wait_ms : 30 * 1000;
    r->group_interval_ms = raw.group_interval >= 0 ? raw.group_interval
                         : parent ? parent->group_interval_ms : 5 * 60 * 1000;
    r->repeat_interval_ms = raw.repeat_interval >= 0 ? raw.repeat_interval
                          : parent ? parent->repeat_interval_ms : 4 * 3600 * 1000;
    if (raw.group_interval == 0) {
        rc = nloader_fail(ld, map_get(ld, n, "group_interval"), VIGIL_EPARSE,
                          "group_interval cannot be zero");
        goto out;
    }
    if (raw.repeat_interval == 0) {
        rc = nloader_fail(ld, map_get(ld, n, "repeat_interval"), VIGIL_EPARSE,
                          "repeat_interval cannot be zero");
        goto out;
    }
    /* Route.Key(): the parent's key, "/", the matchers */
    buf_t key;
    buf_init(&key, 1 << 20);
    if (parent != NULL) {
        buf_puts(&key, parent->key);
        buf_putc(&key, '/');
    }
    if (nm_format(&r->matchers, &key) != 0 || (r->key = buf_detach(&key, NULL)) == NULL ||
        r->receiver == NULL) {
        buf_free(&key);
        rc = nloader_fail(ld, n, VIGIL_ENOMEM, "out of memory");
        goto out;
    }
    const yaml_node_t *subs = map_get(ld, n, "routes");
    if (subs != NULL && !yamldoc_is_null(subs)) {
        if (subs->type != YAML_SEQUENCE_NODE) {
            rc = nloader_fail(ld, subs, VIGIL_EPARSE, "cannot unmarshal %s into []*config.Route",
                              yamldoc_go_tag(subs));
            goto out;
        }
        size_t count;
        yaml_node_item_t *items = yamldoc_items(subs, &count);
        if ((r->routes = calloc(count ? count : 1, sizeof(*r->routes))) == NULL) {
            rc = nloader_fail(ld, subs, VIGIL_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < count; i++) {
            r->nroutes++;
            if ((rc = load_route(ld, node_at(ld, items[i]),
                                 &r->routes[i], r, depth + 1)) != 0)
                goto out;
        }
    }
out:
    fields_free(route_fields, &raw);
    return rc;
}

/* ---- receivers ------------------------------------------------------------------------------ */

static const nfield_t receiver_fields_unsupported[] = {
    { "opsgenie_configs", NF_UNSUPPORTED, 0 }, { "wechat_configs", NF_UNSUPPORTED, 0 },
    { "pushover_configs", NF_UNSUPPORTED, 0 }, { "victorops_configs", NF_UNSUPPORTED, 0 },
    { "sns_configs", NF_UNSUPPORTED, 0 }, { "telegram_configs", NF_UNSUPPORTED, 0 },
    { "webex_configs", NF_UNSUPPORTED, 0 }, { "discord_configs", NF_UNSUPPORTED, 0 },
    { NULL, 0, 0 },
};

static void receiver_free(nreceiver_t *r)
{
    for (size_t i = 0; i < r->nints; i++) {
        nintegration_t *it = &r->ints[i];
        if (it->conf != NULL) {
            fields_free(it->ops->fields, it->conf);
            if (it->ops->free != NULL)
                it->ops->free(it->conf);
            free(it->conf);
        }
    }
    free(r->ints);
    free(r->name);
}

static int add_warning(nloader_t *ld, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char **w = realloc(ld->cfg->warnings, (ld->cfg->nwarnings + 1) * sizeof(*w));
    if (w == NULL || (w[ld->cfg->nwarnings] = strdup(msg)) == NULL) {
        if (w != NULL)
            ld->cfg->warnings = w;
        return nloader_fail(ld, NULL, VIGIL_ENOMEM, "out of memory");
    }
    ld->cfg->warnings = w;
    ld->cfg->nwarnings++;
    return 0;
}

static int load_integration(nloader_t *ld, nreceiver_t *r, const nintegration_ops_t *ops,
                            const yaml_node_t *n, int index)
{
    nintegration_t *it = &r->ints[r->nints];
    memset(it, 0, sizeof(*it));
    it->ops = ops;
    it->index = index;
    if ((it->conf = calloc(1, ops->conf_size)) == NULL)
        return nloader_fail(ld, n, VIGIL_ENOMEM, "out of memory");
    r->nints++;
    fields_init(ops->fields, it->conf);
    char type[64];
    snprintf(type, sizeof(type), "config.%sConfig", ops->name);
    if (read_fields(ld, n, ops->fields, it->conf, type) != 0)
        return ld->rc;
    /* every config struct starts with `int send_resolved` (receivers.c keeps that layout) */
    int sr = *(int *)it->conf;
    it->send_resolved = sr < 0 ? ops->send_resolved : sr == 1;
    bool placeholder = false;
    vigil_error_t saved = { 0 };
    if (ld->err != NULL)
        saved = *ld->err;
    int rc = ops->finish(ld, it->conf, n, &placeholder);
    if (rc != 0 && placeholder && (ld->flags & NOTIFY_LOAD_LENIENT)) {
        char msg[sizeof(saved.message)];
        snprintf(msg, sizeof(msg), "%s", ld->err ? ld->err->message : "placeholder URL");
        if (ld->err != NULL)
            *ld->err = saved;
        ld->rc = 0;
        it->disabled = true;
        return add_warning(ld, "receiver \"%s\": %s #%d disabled: %s", r->name, ops->name, index,
                           msg);
    }
    return rc;
}

static int load_receiver(nloader_t *ld, const yaml_node_t *n, nreceiver_t *r)
{
    if (n->type != YAML_MAPPING_NODE)
        return nloader_fail(ld, n, VIGIL_EPARSE, "cannot unmarshal %s into config.Receiver",
                            yamldoc_go_tag(n));
    size_t total = 0;
    yamldoc_iter_t iter;
    yamldoc_pair_t pair;
    const yamldoc_pair_t *p;
    yamldoc_iter_init(&iter, ld->doc, n);
    while ((p = next_field(ld, &iter, &pair, "config.plain")) != NULL) {
        yaml_node_t *key = p->knode, *val = p->value;
        const char *name = p->key;
        if (strcmp(name, "name") == 0) {
            const char *s = scalar(ld, val, "string");
            if (s == NULL)
                return ld->rc;
            if ((r->name = strdup(s)) == NULL)
                return nloader_fail(ld, val, VIGIL_ENOMEM, "out of memory");
            continue;
        }
        const nintegration_ops_t *ops = notify_integrations;
        while (ops->key != NULL && strcmp(ops->key, name) != 0)
            ops++;
        if (ops->key == NULL) {
            const nfield_t *u = receiver_fields_unsupported;
            while (u->name != NULL && strcmp(u->name, name) != 0)
                u++;
            if (u->name == NULL)
                return nloader_fail(ld, key, VIGIL_EPARSE, "field %s not found in type "
                                    "config.plain", name);
            if (!yamldoc_is_null(val) && !(val->type == YAML_SEQUENCE_NODE &&
                                   val->data.sequence.items.start == val->data.sequence.items.top))
                return nloader_fail(ld, key, VIGIL_ENOTSUP, "%s are not supported yet", name);
            continue;
        }
        if (yamldoc_is_null(val))
            continue;
        if (val->type != YAML_SEQUENCE_NODE)
            return nloader_fail(ld, val, VIGIL_EPARSE, "cannot unmarshal %s into []*config.%s"
                                "Config", yamldoc_go_tag(val), ops->name);
        size_t count;
        yaml_node_item_t *items = yamldoc_items(val, &count);
        nintegration_t *ints = realloc(r->ints, (total + count + 1) * sizeof(*ints));
        if (ints == NULL)
            return nloader_fail(ld, val, VIGIL_ENOMEM, "out of memory");
        r->ints = ints;
        total += count;
        for (size_t i = 0; i < count; i++)
            if (load_integration(ld, r, ops, node_at(ld, items[i]),
                                 (int)i) != 0)
                return ld->rc;
    }
    if (ld->rc != 0)
        return ld->rc;  /* a bad or repeated key ended the walk */
    if (r->name == NULL || *r->name == '\0')
        return nloader_fail(ld, n, VIGIL_EPARSE, "missing name in receiver");
    return 0;
}

/* ---- inhibit rules -------------------------------------------------------------------------- */

typedef struct raw_inhibit {
    nstrmap_t  source_match, source_match_re, target_match, target_match_re;
    nstrlist_t source_matchers, target_matchers, equal;
} raw_inhibit_t;

#define I(f) offsetof(raw_inhibit_t, f)
static const nfield_t inhibit_fields[] = {
    { "source_match", NF_TMPLMAP, I(source_match) },
    { "source_match_re", NF_TMPLMAP, I(source_match_re) },
    { "source_matchers", NF_STRLIST, I(source_matchers) },
    { "target_match", NF_TMPLMAP, I(target_match) },
    { "target_match_re", NF_TMPLMAP, I(target_match_re) },
    { "target_matchers", NF_STRLIST, I(target_matchers) },
    { "equal", NF_STRLIST, I(equal) },
    { NULL, 0, 0 },
};
#undef I

static int load_side(nloader_t *ld, const yaml_node_t *n, const char *side, nmatchers_t *ms,
                     const nstrmap_t *eq, const nstrmap_t *re, const nstrlist_t *list)
{
    char why[512], key[32];
    for (size_t i = 0; i < eq->n + re->n; i++) {
        bool isre = i >= eq->n;
        const nstrmap_t *m = isre ? re : eq;
        size_t k = isre ? i - eq->n : i;
        snprintf(key, sizeof(key), "%s_match%s", side, isre ? "_re" : "");
        if (!nm_valid_label_name(m->k[k]))
            return nloader_fail(ld, map_get(ld, n, key), VIGIL_EPARSE,
                                "invalid label name \"%s\"", m->k[k]);
        int rc = nm_add(ms, m->k[k], m->v[k], isre ? NM_RE : NM_EQ, why, sizeof(why));
        if (rc != 0)
            return nloader_fail(ld, map_get(ld, n, key), rc, "%s", why);
    }
    snprintf(key, sizeof(key), "%s_matchers", side);
    for (size_t i = 0; i < list->n; i++) {
        int rc = nm_parse(ms, list->v[i], why, sizeof(why));
        if (rc != 0)
            return nloader_fail(ld, map_get(ld, n, key), rc, "%s", why);
    }
    return 0;
}

static int load_inhibit(nloader_t *ld, const yaml_node_t *n, ninhibit_t *ir)
{
    raw_inhibit_t raw;
    memset(&raw, 0, sizeof(raw));
    int rc = read_fields(ld, n, inhibit_fields, &raw, "config.plain");
    if (rc == 0)
        rc = load_side(ld, n, "source", &ir->source, &raw.source_match, &raw.source_match_re,
                       &raw.source_matchers);
    if (rc == 0)
        rc = load_side(ld, n, "target", &ir->target, &raw.target_match, &raw.target_match_re,
                       &raw.target_matchers);
    for (size_t i = 0; rc == 0 && i < raw.equal.n; i++)
        if (!nm_valid_label_name(raw.equal.v[i]))
            rc = nloader_fail(ld, map_get(ld, n, "equal"), VIGIL_EPARSE,
                              "\"%s\" is not a valid label name", raw.equal.v[i]);
    if (rc == 0) {
        ir->equal = raw.equal.v;
        ir->nequal = raw.equal.n;
        raw.equal.v = NULL;
        raw.equal.n = 0;
    }
    fields_free(inhibit_fields, &raw);
    return rc;
}

/* ---- templates ------------------------------------------------------------------------------ */

/* Compiles the default templates plus every file the `templates` globs match into cfg->lib. */
static int load_templates(nloader_t *ld, const yaml_node_t *n)
{
    nstrlist_t globs = { 0 };
    if (n != NULL && read_strlist(ld, n, &globs) != 0)
        return ld->rc;
    buf_t text;
    buf_init(&text, 16u * 1024 * 1024);
    int rc = buf_puts(&text, notify_default_templates);
    for (size_t i = 0; rc == 0 && i < globs.n; i++) {
        glob_t g;
        int gr = glob(globs.v[i], 0, NULL, &g);
        if (gr != 0 && gr != GLOB_NOMATCH) {
            rc = nloader_fail(ld, n, VIGIL_EIO, "templates: %s: cannot expand", globs.v[i]);
            break;
        }
        for (size_t j = 0; rc == 0 && gr == 0 && j < g.gl_pathc; j++) {
            FILE *f = fopen(g.gl_pathv[j], "rb");
            if (f == NULL) {
                rc = nloader_fail(ld, n, VIGIL_EIO, "templates: %s: %s", g.gl_pathv[j],
                                  strerror(errno));
                break;
            }
            char chunk[8192];
            size_t got;
            while (rc == 0 && (got = fread(chunk, 1, sizeof(chunk), f)) > 0)
                rc = buf_append(&text, chunk, got);
            fclose(f);
            if (rc == 0)
                rc = buf_putc(&text, '\n');
            ld->cfg->ntemplates++;
        }
        if (gr == 0)
            globfree(&g);
    }
    strlist_free(&globs);
    if (rc != 0) {
        buf_free(&text);
        return ld->rc ? ld->rc : nloader_fail(ld, n, rc, "templates too large");
    }
    template_options_t o = { .name = "templates" };
    vigil_error_t terr = { 0 };
    rc = template_compile(&ld->cfg->lib, text.data, &o, &terr);
    buf_free(&text);
    if (rc != 0)
        return nloader_fail(ld, n, rc, "%s", terr.message);
    return 0;
}

int ntmpl_compile(nloader_t *ld, ntmpl_t *out, const char *text, const yaml_node_t *node,
                  const char *field)
{
    memset(out, 0, sizeof(*out));
    if (text == NULL)
        return 0;
    if ((out->text = strdup(text)) == NULL)
        return nloader_fail(ld, node, VIGIL_ENOMEM, "out of memory");
    if (template_is_plain(text))
        return 0;
    template_options_t o = { .name = field, .lib = ld->cfg->lib };
    vigil_error_t terr = { 0 };
    int rc = template_compile(&out->t, text, &o, &terr);
    if (rc != 0) {
        const yaml_node_t *at = map_get(ld, node, field);
        return nloader_fail(ld, at ? at : node, rc, "%s", terr.message);
    }
    return 0;
}

void ntmpl_free(ntmpl_t *t)
{
    free(t->text);
    template_free(t->t);
    memset(t, 0, sizeof(*t));
}

/* ---- the file -------------------------------------------------------------------------------- */

void notify_config_free(notify_config_t *cfg)
{
    if (cfg == NULL)
        return;
    global_free(&cfg->global);
    nroute_free(&cfg->route);
    for (size_t i = 0; i < cfg->nreceivers; i++)
        receiver_free(&cfg->receivers[i]);
    free(cfg->receivers);
    for (size_t i = 0; i < cfg->ninhibits; i++) {
        nm_free(&cfg->inhibits[i].source);
        nm_free(&cfg->inhibits[i].target);
        for (size_t j = 0; j < cfg->inhibits[i].nequal; j++)
            free(cfg->inhibits[i].equal[j]);
        free(cfg->inhibits[i].equal);
    }
    free(cfg->inhibits);
    template_free(cfg->lib);
    for (size_t i = 0; i < cfg->nwarnings; i++)
        free(cfg->warnings[i]);
    free(cfg->warnings);
    free(cfg);
}

static const char *const top_keys[] = { "global", "route", "receivers", "inhibit_rules",
                                        "templates", "time_intervals", "mute_time_intervals",
                                        NULL };

static int load_root(nloader_t *ld, const yaml_node_t *root)
{
    if (root != NULL && !yamldoc_is_null(root) && root->type != YAML_MAPPING_NODE)
        return nloader_fail(ld, root, VIGIL_EPARSE, "cannot unmarshal %s into config.plain",
                            yamldoc_go_tag(root));
    if (root != NULL && root->type == YAML_MAPPING_NODE) {
        yamldoc_iter_t iter;
        yamldoc_pair_t pair;
        const yamldoc_pair_t *p;
        yamldoc_iter_init(&iter, ld->doc, root);
        while ((p = next_field(ld, &iter, &pair, "config.plain")) != NULL) {
            yaml_node_t *key = p->knode, *val = p->value;
            const char *name = p->key;
            int i = 0;
            while (top_keys[i] != NULL && strcmp(top_keys[i], name) != 0)
                i++;
            if (top_keys[i] == NULL)
                return nloader_fail(ld, key, VIGIL_EPARSE, "field %s not found in type "
                                    "config.plain", name);
            if (i >= 5 && !yamldoc_is_null(val) && !(val->type == YAML_SEQUENCE_NODE &&
                                             val->data.sequence.items.start ==
                                                 val->data.sequence.items.top))
                return nloader_fail(ld, key, VIGIL_ENOTSUP, "%s are not supported yet", name);
        }
        if (ld->rc != 0)
            return ld->rc;  /* a bad or repeated key ended the walk */
    }
    if (load_global(ld, map_get(ld, root, "global")) != 0)
        return ld->rc;
    if (load_templates(ld, map_get(ld, root, "templates")) != 0)
        return ld->rc;
    const yaml_node_t *recv = map_get(ld, root, "receivers");
    if (recv != NULL && !yamldoc_is_null(recv)) {
        if (recv->type != YAML_SEQUENCE_NODE)
            return nloader_fail(ld, recv, VIGIL_EPARSE, "cannot unmarshal %s into "
                                "[]config.Receiver", yamldoc_go_tag(recv));
        size_t count;
        yaml_node_item_t *items = yamldoc_items(recv, &count);
        if ((ld->cfg->receivers = calloc(count ? count : 1, sizeof(nreceiver_t))) == NULL)
            return nloader_fail(ld, recv, VIGIL_ENOMEM, "out of memory");
        for (size_t i = 0; i < count; i++) {
            yaml_node_t *rn = node_at(ld, items[i]);
            ld->cfg->nreceivers++;
            if (load_receiver(ld, rn, &ld->cfg->receivers[i]) != 0)
                return ld->rc;
            for (size_t j = 0; j < i; j++)
                if (strcmp(ld->cfg->receivers[j].name, ld->cfg->receivers[i].name) == 0)
                    return nloader_fail(ld, rn, VIGIL_EPARSE, "notification config name \"%s\" "
                                        "is not unique", ld->cfg->receivers[i].name);
        }
    }
    const yaml_node_t *inh = map_get(ld, root, "inhibit_rules");
    if (inh != NULL && !yamldoc_is_null(inh)) {
        if (inh->type != YAML_SEQUENCE_NODE)
            return nloader_fail(ld, inh, VIGIL_EPARSE, "cannot unmarshal %s into "
                                "[]config.InhibitRule", yamldoc_go_tag(inh));
        size_t count;
        yaml_node_item_t *items = yamldoc_items(inh, &count);
        if ((ld->cfg->inhibits = calloc(count ? count : 1, sizeof(ninhibit_t))) == NULL)
            return nloader_fail(ld, inh, VIGIL_ENOMEM, "out of memory");
        for (size_t i = 0; i < count; i++) {
            ld->cfg->ninhibits++;
            if (load_inhibit(ld, node_at(ld, items[i]),
                             &ld->cfg->inhibits[i]) != 0)
                return ld->rc;
        }
    }
    const yaml_node_t *route = map_get(ld, root, "route");
    if (route == NULL || yamldoc_is_null(route)) {
        if (ld->cfg->nreceivers > 0)
            return nloader_fail(ld, root, VIGIL_EPARSE, "no routes provided");
        return nloader_fail(ld, root, VIGIL_EPARSE, "no route provided in config");
    }
    if (load_route(ld, route, &ld->cfg->route, NULL, 0) != 0)
        return ld->rc;
    char why[300];
    int line = 0, col = 0;
    int rc = nroute_finish(ld->cfg, why, sizeof(why), &line, &col);
    if (rc != 0)
        return ld->rc = vigil_error_set(ld->err, rc, "%s:%d:%d: %s", ld->name, line, col, why);
    return 0;
}

/* Reads a loaded document (which stays the caller's) into a new config: *out is set only
 * when all of it is good, and is the caller's (notify_config_free()). */
static int load_document(notify_config_t **out, const char *name, yaml_document_t *doc,
                         unsigned flags, vigil_error_t *err)
{
    notify_config_t *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "%s: out of memory", name);
    nloader_t ld = { .name = name, .doc = doc, .err = err, .cfg = cfg, .flags = flags };
    int rc = load_root(&ld, yaml_document_get_root_node(doc));
    if (rc == 0)
        *out = cfg;
    else
        notify_config_free(cfg);
    return rc;
}

int notify_config_load_buffer(notify_config_t **out, const char *name, const char *data,
                              size_t len, unsigned flags, vigil_error_t *err)
{
    *out = NULL;
    yaml_document_t doc;
    int rc = yamldoc_load(&doc, name, data, len, &notify_yaml, err);
    if (rc != 0)
        return rc;
    rc = load_document(out, name, &doc, flags, err);
    yaml_document_delete(&doc);
    return rc;
}

int notify_config_load_file(notify_config_t **out, const char *path, unsigned flags,
                            vigil_error_t *err)
{
    *out = NULL;
    yaml_document_t doc;
    int rc = yamldoc_load_file(&doc, path, &notify_yaml, err);
    if (rc != 0)
        return rc;
    rc = load_document(out, path, &doc, flags, err);
    yaml_document_delete(&doc);
    return rc;
}

int notify_config_check_file(const char *path, vigil_error_t *err)
{
    notify_config_t *cfg;
    int rc = notify_config_load_file(&cfg, path, 0, err);
    notify_config_free(cfg);
    return rc;
}

void notify_config_summarize(const notify_config_t *cfg, notify_config_summary_t *out)
{
    memset(out, 0, sizeof(*out));
    out->receivers = cfg->nreceivers;
    out->inhibit_rules = cfg->ninhibits;
    out->templates = cfg->ntemplates;
    for (size_t i = 0; i < cfg->nreceivers; i++)
        for (size_t j = 0; j < cfg->receivers[i].nints; j++) {
            out->integrations++;
            out->disabled += cfg->receivers[i].ints[j].disabled;
        }
    /* routes: count the tree iteratively with an explicit stack */
    const nroute_t *stack[NOTIFY_MAX_ROUTE_DEPTH * 4 + 8];
    size_t sp = 0;
    stack[sp++] = &cfg->route;
    while (sp > 0) {
        const nroute_t *r = stack[--sp];
        out->routes++;
        for (size_t i = 0; i < r->nroutes && sp < sizeof(stack) / sizeof(stack[0]); i++)
            stack[sp++] = &r->routes[i];
    }
}

const char *notify_config_warning(const notify_config_t *cfg, size_t i)
{
    return cfg != NULL && i < cfg->nwarnings ? cfg->warnings[i] : NULL;
}
