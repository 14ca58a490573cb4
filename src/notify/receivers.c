/*
 * receivers.c - the integration table: one row per *_configs kind with its fields, its
 * config checks (amtool's messages) and its sender. Adding a kind is adding a row.
 *
 *   webhook    Alertmanager webhook JSON version 4 (payload.c), POST
 *   slack      incoming-webhook JSON with one attachment, texts from templates
 *   pagerduty  Events API v2 (routing_key) or the v1 generic API (service_key), as
 *              Alertmanager chooses
 *   email      SMTP through libcurl (STARTTLS when require_tls), text/plain body
 *   exec       vigil's: runs argv (no shell) with the webhook JSON on stdin (stdout discarded,
 *              stderr inherited), killed at timeout
 *   file       vigil's: appends the webhook JSON as one line
 *
 * Every config struct starts with `int send_resolved` (config.c reads it generically).
 */
#include "notify/notify_int.h"

#include <curl/curl.h>
#include <jansson.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- shared helpers --------------------------------------------------------------------- */

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
    (void)p;
    (void)ctx;
    return size * n;
}

int notify_http_post(const char *url, const char *content_type, const char *body,
                     int timeout_ms, char *why, size_t why_len)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        return snprintf(why, why_len, "curl_easy_init failed"), VIGIL_ENOMEM;
    char ct[128];
    snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
    struct curl_slist *h = curl_slist_append(NULL, ct);
    h = curl_slist_append(h, "User-Agent: vigil-notifier");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    CURLcode cr = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (cr != CURLE_OK)
        return snprintf(why, why_len, "POST %s: %s", url, curl_easy_strerror(cr)), VIGIL_EIO;
    if (status / 100 == 2)
        return 0;
    snprintf(why, why_len, "POST %s: HTTP status %ld", url, status);
    /* Alertmanager retries 5xx and 429; other statuses will not get better by retrying. */
    return status >= 500 || status == 429 ? VIGIL_EIO : VIGIL_EINVAL;
}

/* POSTs `root` (taken) as compact JSON in key order: the Slack and PagerDuty documents. */
static int post_json(const char *url, json_t *root, int timeout_ms, char *why, size_t why_len)
{
    char *body = json_dumps(root, JSON_PRESERVE_ORDER | JSON_COMPACT);
    json_decref(root);
    if (body == NULL)
        return snprintf(why, why_len, "out of memory"), VIGIL_ENOMEM;
    int rc = notify_http_post(url, "application/json", body, timeout_ms, why, why_len);
    free(body);
    return rc;
}

int ntmpl_render(const ntmpl_t *t, const nmessage_t *m, buf_t *b, char *why, size_t why_len)
{
    if (t->text == NULL)
        return 0;
    if (t->t == NULL)
        return buf_puts(b, t->text);
    vigil_error_t err = { 0 };
    template_exec_options_t o = { .external_url = m->external_url };
    int rc = template_execute(t->t, m->data, &o, b, &err);
    if (rc != 0)
        snprintf(why, why_len, "%s", err.message);
    return rc;
}

/* Renders a template field into a malloc'd string (caller frees); NULL on error (why). */
static char *render(const ntmpl_t *t, const nmessage_t *m, char *why, size_t why_len)
{
    buf_t b;
    buf_init(&b, 1u << 20);
    if (ntmpl_render(t, m, &b, why, why_len) != 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

/* Field text or the default when the field was not given. */
static int tmpl_or(nloader_t *ld, ntmpl_t *out, const char *text, const char *def,
                   const nyaml_node_t *n, const char *field)
{
    return ntmpl_compile(ld, out, text != NULL ? text : def, n, field);
}

/* ---- webhook ------------------------------------------------------------------------------- */

typedef struct webhook_conf {
    int   send_resolved;
    char *url;
    int   max_alerts;
} webhook_conf_t;

#define W(f) offsetof(webhook_conf_t, f)
static const nfield_t webhook_fields[] = {
    { "send_resolved", NF_BOOL, W(send_resolved) },
    { "url", NF_URL, W(url) },
    { "max_alerts", NF_INT, W(max_alerts) },
    { "url_file", NF_UNSUPPORTED, 0 },
    { "http_config", NF_UNSUPPORTED, 0 },
    { NULL, 0, 0 },
};
#undef W

static int webhook_finish(nloader_t *ld, void *conf, const nyaml_node_t *n, bool *placeholder)
{
    webhook_conf_t *c = conf;
    if (c->max_alerts < 0)
        c->max_alerts = 0;
    if (c->url == NULL || *c->url == '\0')
        return nloader_fail(ld, n, VIGIL_EPARSE, "missing URL in webhook config");
    const char *p = notify_url_problem(c->url);
    if (p != NULL) {
        *placeholder = true;
        return nloader_fail(ld, nloader_field(ld, n, "url"), VIGIL_EPARSE, "%s", p);
    }
    return 0;
}

static int webhook_notify(const void *conf, const nmessage_t *m, int timeout_ms, char *why,
                          size_t why_len)
{
    const webhook_conf_t *c = conf;
    /* Alertmanager's body is json.NewEncoder(&buf).Encode(msg): the document and a newline. */
    buf_t body;
    buf_init(&body, NPAYLOAD_MAX_BYTES);
    int rc = npayload_webhook_buf(m, c->max_alerts, &body);
    rc = rc ? rc : buf_putc(&body, '\n');
    if (rc != 0) {
        buf_free(&body);
        return snprintf(why, why_len, "%s", vigil_strerror(rc)), rc;
    }
    rc = notify_http_post(c->url, "application/json", body.data, timeout_ms, why, why_len);
    buf_free(&body);
    return rc;
}

/* ---- slack ------------------------------------------------------------------------------------ */

typedef struct slack_conf {
    int     send_resolved;
    char   *api_url, *channel, *username, *color, *title, *title_link, *pretext, *text,
           *footer, *fallback, *callback_id, *icon_emoji, *icon_url, *image_url, *thumb_url;
    int     link_names, short_fields;
    nstrlist_t mrkdwn_in;
    const char *url;  /* api_url or the global one */
    ntmpl_t t_channel, t_username, t_color, t_title, t_title_link, t_pretext, t_text, t_footer,
            t_fallback, t_callback_id, t_icon_emoji, t_icon_url;
} slack_conf_t;

#define S(f) offsetof(slack_conf_t, f)
static const nfield_t slack_fields[] = {
    { "send_resolved", NF_BOOL, S(send_resolved) },
    { "api_url", NF_URL, S(api_url) },
    { "channel", NF_TEMPLATE, S(channel) },
    { "username", NF_TEMPLATE, S(username) },
    { "color", NF_TEMPLATE, S(color) },
    { "title", NF_TEMPLATE, S(title) },
    { "title_link", NF_TEMPLATE, S(title_link) },
    { "pretext", NF_TEMPLATE, S(pretext) },
    { "text", NF_TEMPLATE, S(text) },
    { "footer", NF_TEMPLATE, S(footer) },
    { "fallback", NF_TEMPLATE, S(fallback) },
    { "callback_id", NF_TEMPLATE, S(callback_id) },
    { "icon_emoji", NF_TEMPLATE, S(icon_emoji) },
    { "icon_url", NF_TEMPLATE, S(icon_url) },
    { "image_url", NF_STRING, S(image_url) },
    { "thumb_url", NF_STRING, S(thumb_url) },
    { "link_names", NF_BOOL, S(link_names) },
    { "short_fields", NF_BOOL, S(short_fields) },
    { "mrkdwn_in", NF_STRLIST, S(mrkdwn_in) },
    { "api_url_file", NF_UNSUPPORTED, 0 },
    { "http_config", NF_UNSUPPORTED, 0 },
    { "fields", NF_UNSUPPORTED, 0 },
    { "actions", NF_UNSUPPORTED, 0 },
    { NULL, 0, 0 },
};
#undef S

static int slack_finish(nloader_t *ld, void *conf, const nyaml_node_t *n, bool *placeholder)
{
    slack_conf_t *c = conf;
    c->url = c->api_url != NULL ? c->api_url : nloader_global(ld)->slack_api_url;
    if (c->url == NULL)
        return nloader_fail(ld, n, VIGIL_EPARSE,
                            "no global Slack API URL set either inline or in a file");
    const char *p = notify_url_problem(c->url);
    if (p != NULL) {
        *placeholder = true;
        return nloader_fail(ld, nloader_field(ld, n, "api_url"), VIGIL_EPARSE, "%s", p);
    }
    if (tmpl_or(ld, &c->t_channel, c->channel, NULL, n, "channel") ||
        tmpl_or(ld, &c->t_username, c->username, "{{ template \"slack.default.username\" . }}",
                n, "username") ||
        tmpl_or(ld, &c->t_color, c->color, "{{ if eq .Status \"firing\" }}danger{{ else }}"
                "good{{ end }}", n, "color") ||
        tmpl_or(ld, &c->t_title, c->title, "{{ template \"slack.default.title\" . }}", n,
                "title") ||
        tmpl_or(ld, &c->t_title_link, c->title_link,
                "{{ template \"slack.default.titlelink\" . }}", n, "title_link") ||
        tmpl_or(ld, &c->t_pretext, c->pretext, "{{ template \"slack.default.pretext\" . }}", n,
                "pretext") ||
        tmpl_or(ld, &c->t_text, c->text, "{{ template \"slack.default.text\" . }}", n, "text") ||
        tmpl_or(ld, &c->t_footer, c->footer, "{{ template \"slack.default.footer\" . }}", n,
                "footer") ||
        tmpl_or(ld, &c->t_fallback, c->fallback, "{{ template \"slack.default.fallback\" . }}",
                n, "fallback") ||
        tmpl_or(ld, &c->t_callback_id, c->callback_id,
                "{{ template \"slack.default.callbackid\" . }}", n, "callback_id") ||
        tmpl_or(ld, &c->t_icon_emoji, c->icon_emoji,
                "{{ template \"slack.default.iconemoji\" . }}", n, "icon_emoji") ||
        tmpl_or(ld, &c->t_icon_url, c->icon_url, "{{ template \"slack.default.iconurl\" . }}",
                n, "icon_url"))
        return VIGIL_EPARSE;
    return 0;
}

static void slack_free(void *conf)
{
    slack_conf_t *c = conf;
    ntmpl_t *ts[] = { &c->t_channel, &c->t_username, &c->t_color, &c->t_title, &c->t_title_link,
                      &c->t_pretext, &c->t_text, &c->t_footer, &c->t_fallback,
                      &c->t_callback_id, &c->t_icon_emoji, &c->t_icon_url };
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
        ntmpl_free(ts[i]);
}

/* Sets key to the rendered template unless it renders empty (Alertmanager's omitempty). */
static int set_rendered(json_t *o, const char *key, const ntmpl_t *t, const nmessage_t *m,
                        char *why, size_t why_len)
{
    char *s = render(t, m, why, why_len);
    if (s == NULL)
        return VIGIL_EINVAL;
    if (*s)
        json_object_set_new(o, key, json_string(s));
    free(s);
    return 0;
}

static int slack_notify(const void *conf, const nmessage_t *m, int timeout_ms, char *why,
                        size_t why_len)
{
    const slack_conf_t *c = conf;
    json_t *root = json_object(), *att = json_object();
    int rc = 0;
    rc = rc ? rc : set_rendered(root, "channel", &c->t_channel, m, why, why_len);
    rc = rc ? rc : set_rendered(root, "username", &c->t_username, m, why, why_len);
    rc = rc ? rc : set_rendered(root, "icon_emoji", &c->t_icon_emoji, m, why, why_len);
    rc = rc ? rc : set_rendered(root, "icon_url", &c->t_icon_url, m, why, why_len);
    if (c->link_names == 1)
        json_object_set_new(root, "link_names", json_true());
    rc = rc ? rc : set_rendered(att, "title", &c->t_title, m, why, why_len);
    rc = rc ? rc : set_rendered(att, "title_link", &c->t_title_link, m, why, why_len);
    rc = rc ? rc : set_rendered(att, "pretext", &c->t_pretext, m, why, why_len);
    rc = rc ? rc : set_rendered(att, "text", &c->t_text, m, why, why_len);
    rc = rc ? rc : set_rendered(att, "fallback", &c->t_fallback, m, why, why_len);
    rc = rc ? rc : set_rendered(att, "callback_id", &c->t_callback_id, m, why, why_len);
    rc = rc ? rc : set_rendered(att, "footer", &c->t_footer, m, why, why_len);
    rc = rc ? rc : set_rendered(att, "color", &c->t_color, m, why, why_len);
    if (c->image_url != NULL)
        json_object_set_new(att, "image_url", json_string(c->image_url));
    if (c->thumb_url != NULL)
        json_object_set_new(att, "thumb_url", json_string(c->thumb_url));
    json_t *md = json_array();
    if (c->mrkdwn_in.n == 0) {
        json_array_append_new(md, json_string("fallback"));
        json_array_append_new(md, json_string("pretext"));
        json_array_append_new(md, json_string("text"));
    }
    for (size_t i = 0; i < c->mrkdwn_in.n; i++)
        json_array_append_new(md, json_string(c->mrkdwn_in.v[i]));
    json_object_set_new(att, "mrkdwn_in", md);
    json_t *atts = json_array();
    json_array_append_new(atts, att);
    json_object_set_new(root, "attachments", atts);
    if (rc != 0) {
        json_decref(root);
        return rc;
    }
    return post_json(c->url, root, timeout_ms, why, why_len);
}

/* ---- pagerduty --------------------------------------------------------------------------------- */

typedef struct pagerduty_conf {
    int        send_resolved;
    char      *routing_key, *service_key, *url, *client, *client_url, *description, *severity,
              *source, *class_, *component, *group;
    nstrmap_t  details;
    const char *endpoint;
    ntmpl_t    t_client, t_client_url, t_description, t_severity, t_source, t_class,
               t_component, t_group;
    ntmpl_t   *t_details;
} pagerduty_conf_t;

#define P(f) offsetof(pagerduty_conf_t, f)
static const nfield_t pagerduty_fields[] = {
    { "send_resolved", NF_BOOL, P(send_resolved) },
    { "routing_key", NF_SECRET, P(routing_key) },
    { "service_key", NF_SECRET, P(service_key) },
    { "url", NF_URL, P(url) },
    { "client", NF_TEMPLATE, P(client) },
    { "client_url", NF_TEMPLATE, P(client_url) },
    { "description", NF_TEMPLATE, P(description) },
    { "severity", NF_TEMPLATE, P(severity) },
    { "source", NF_TEMPLATE, P(source) },
    { "class", NF_TEMPLATE, P(class_) },
    { "component", NF_TEMPLATE, P(component) },
    { "group", NF_TEMPLATE, P(group) },
    { "details", NF_TMPLMAP, P(details) },
    { "routing_key_file", NF_UNSUPPORTED, 0 },
    { "service_key_file", NF_UNSUPPORTED, 0 },
    { "images", NF_UNSUPPORTED, 0 },
    { "links", NF_UNSUPPORTED, 0 },
    { "http_config", NF_UNSUPPORTED, 0 },
    { NULL, 0, 0 },
};
#undef P

static const char *const pd_default_details[][2] = {
    { "firing", "{{ template \"pagerduty.default.instances\" .Alerts.Firing }}" },
    { "num_firing", "{{ .Alerts.Firing | len }}" },
    { "num_resolved", "{{ .Alerts.Resolved | len }}" },
    { "resolved", "{{ template \"pagerduty.default.instances\" .Alerts.Resolved }}" },
};

static int pagerduty_finish(nloader_t *ld, void *conf, const nyaml_node_t *n,
                            bool *placeholder)
{
    pagerduty_conf_t *c = conf;
    if ((c->routing_key == NULL || !*c->routing_key) &&
        (c->service_key == NULL || !*c->service_key))
        return nloader_fail(ld, n, VIGIL_EPARSE,
                            "missing service or routing key in PagerDuty config");
    bool v1 = c->routing_key == NULL || !*c->routing_key;
    c->endpoint = c->url ? c->url : v1 ? "https://events.pagerduty.com/generic/2010-04-15/"
                                         "create_event.json"
                                       : nloader_global(ld)->pagerduty_url;
    const char *p = notify_url_problem(c->endpoint);
    if (p != NULL) {
        *placeholder = true;
        return nloader_fail(ld, nloader_field(ld, n, "url"), VIGIL_EPARSE, "%s", p);
    }
    /* Alertmanager's defaults: the default details unless details are given (then merged). */
    size_t nd = 4 + c->details.n;
    if ((c->t_details = calloc(nd * 2, sizeof(ntmpl_t))) == NULL)
        return nloader_fail(ld, n, VIGIL_ENOMEM, "out of memory");
    for (size_t i = 0; i < 4; i++) {
        bool overridden = false;
        for (size_t j = 0; j < c->details.n; j++)
            overridden |= strcmp(c->details.k[j], pd_default_details[i][0]) == 0;
        if (!overridden &&
            (ntmpl_compile(ld, &c->t_details[2 * i], pd_default_details[i][0], n, "details") ||
             ntmpl_compile(ld, &c->t_details[2 * i + 1], pd_default_details[i][1], n,
                           "details")))
            return VIGIL_EPARSE;
    }
    for (size_t j = 0; j < c->details.n; j++)
        if (ntmpl_compile(ld, &c->t_details[2 * (4 + j)], c->details.k[j], n, "details") ||
            ntmpl_compile(ld, &c->t_details[2 * (4 + j) + 1], c->details.v[j], n, "details"))
            return VIGIL_EPARSE;
    if (tmpl_or(ld, &c->t_client, c->client, "{{ template \"pagerduty.default.client\" . }}",
                n, "client") ||
        tmpl_or(ld, &c->t_client_url, c->client_url,
                "{{ template \"pagerduty.default.clientURL\" . }}", n, "client_url") ||
        tmpl_or(ld, &c->t_description, c->description,
                "{{ template \"pagerduty.default.description\" .}}", n, "description") ||
        tmpl_or(ld, &c->t_severity, c->severity, "error", n, "severity") ||
        tmpl_or(ld, &c->t_source, c->source, c->client ? c->client
                : "{{ template \"pagerduty.default.client\" . }}", n, "source") ||
        tmpl_or(ld, &c->t_class, c->class_, NULL, n, "class") ||
        tmpl_or(ld, &c->t_component, c->component, NULL, n, "component") ||
        tmpl_or(ld, &c->t_group, c->group, NULL, n, "group"))
        return VIGIL_EPARSE;
    return 0;
}

static void pagerduty_free(void *conf)
{
    pagerduty_conf_t *c = conf;
    ntmpl_t *ts[] = { &c->t_client, &c->t_client_url, &c->t_description, &c->t_severity,
                      &c->t_source, &c->t_class, &c->t_component, &c->t_group };
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
        ntmpl_free(ts[i]);
    if (c->t_details != NULL)
        for (size_t i = 0; i < 2 * (4 + c->details.n); i++)
            ntmpl_free(&c->t_details[i]);
    free(c->t_details);
}

static int pagerduty_notify(const void *conf, const nmessage_t *m, int timeout_ms, char *why,
                            size_t why_len)
{
    const pagerduty_conf_t *c = conf;
    bool v1 = c->routing_key == NULL || !*c->routing_key;
    bool trigger = strcmp(m->status, "firing") == 0;
    char key[24];
    /* Alertmanager hashes the group key (SHA-256); vigil uses its FNV-1a fingerprint of the
     * group key: stable per group, which is what PagerDuty needs to dedup and resolve. */
    notify_kv_t gk = { "groupKey", m->group_key };
    snprintf(key, sizeof(key), "%016llx", (unsigned long long)notify_fingerprint(&gk, 1));
    json_t *root = json_object(), *details = json_object();
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < 4 + c->details.n; i++) {
        if (c->t_details[2 * i].text == NULL)
            continue;
        char *k = render(&c->t_details[2 * i], m, why, why_len);
        char *v = k ? render(&c->t_details[2 * i + 1], m, why, why_len) : NULL;
        if (v == NULL)
            rc = VIGIL_EINVAL;
        else
            json_object_set_new(details, k, json_string(v));
        free(k);
        free(v);
    }
    char *desc = rc == 0 ? render(&c->t_description, m, why, why_len) : NULL;
    char *client = desc ? render(&c->t_client, m, why, why_len) : NULL;
    char *client_url = client ? render(&c->t_client_url, m, why, why_len) : NULL;
    if (client_url == NULL)
        rc = VIGIL_EINVAL;
    if (rc == 0 && v1) {
        json_object_set_new(root, "service_key", json_string(c->service_key));
        json_object_set_new(root, "event_type", json_string(trigger ? "trigger" : "resolve"));
        json_object_set_new(root, "incident_key", json_string(key));
        json_object_set_new(root, "description", json_string(desc));
        json_object_set_new(root, "client", json_string(client));
        json_object_set_new(root, "client_url", json_string(client_url));
        json_object_set_new(root, "details", details);
        details = NULL;
    } else if (rc == 0) {
        json_object_set_new(root, "routing_key", json_string(c->routing_key));
        json_object_set_new(root, "event_action", json_string(trigger ? "trigger" : "resolve"));
        json_object_set_new(root, "dedup_key", json_string(key));
        if (trigger) {
            json_t *pl = json_object();
            if (strlen(desc) > 1024)
                desc[1024] = '\0';  /* Events API v2 limit, as Alertmanager truncates */
            json_object_set_new(pl, "summary", json_string(desc));
            char *src = render(&c->t_source, m, why, why_len);
            char *sev = src ? render(&c->t_severity, m, why, why_len) : NULL;
            char *cls = sev ? render(&c->t_class, m, why, why_len) : NULL;
            char *cmp = cls ? render(&c->t_component, m, why, why_len) : NULL;
            char *grp = cmp ? render(&c->t_group, m, why, why_len) : NULL;
            if (grp == NULL)
                rc = VIGIL_EINVAL;
            else {
                json_object_set_new(pl, "source", json_string(src));
                json_object_set_new(pl, "severity", json_string(sev));
                json_object_set_new(pl, "custom_details", details);
                details = NULL;
                if (*cls)
                    json_object_set_new(pl, "class", json_string(cls));
                if (*cmp)
                    json_object_set_new(pl, "component", json_string(cmp));
                if (*grp)
                    json_object_set_new(pl, "group", json_string(grp));
            }
            free(src);
            free(sev);
            free(cls);
            free(cmp);
            free(grp);
            json_object_set_new(root, "payload", pl);
        }
        json_object_set_new(root, "client", json_string(client));
        json_object_set_new(root, "client_url", json_string(client_url));
    }
    free(desc);
    free(client);
    free(client_url);
    json_decref(details);
    if (rc != 0) {
        json_decref(root);
        return rc;
    }
    return post_json(c->endpoint, root, timeout_ms, why, why_len);
}

/* ---- email ------------------------------------------------------------------------------------ */

typedef struct email_conf {
    int        send_resolved;
    char      *to, *from, *hello, *smarthost, *auth_username, *auth_password, *auth_identity,
              *auth_secret, *html, *text, *subject, *body;
    int        require_tls;
    nstrmap_t  headers;
    const char *e_from, *e_smarthost, *e_user, *e_pass;
    bool       tls;
    ntmpl_t    t_to, t_from, t_subject, t_text;
} email_conf_t;

#define E(f) offsetof(email_conf_t, f)
static const nfield_t email_fields[] = {
    { "send_resolved", NF_BOOL, E(send_resolved) },
    { "to", NF_TEMPLATE, E(to) },
    { "from", NF_TEMPLATE, E(from) },
    { "hello", NF_STRING, E(hello) },
    { "smarthost", NF_STRING, E(smarthost) },
    { "auth_username", NF_STRING, E(auth_username) },
    { "auth_password", NF_SECRET, E(auth_password) },
    { "auth_identity", NF_STRING, E(auth_identity) },
    { "auth_secret", NF_SECRET, E(auth_secret) },
    { "headers", NF_TMPLMAP, E(headers) },
    { "html", NF_TEMPLATE, E(html) },
    { "text", NF_TEMPLATE, E(text) },
    { "require_tls", NF_BOOL, E(require_tls) },
    { "subject", NF_EXTENSION, E(subject) },
    { "body", NF_EXTENSION, E(body) },
    { "auth_password_file", NF_UNSUPPORTED, 0 },
    { "tls_config", NF_UNSUPPORTED, 0 },
    { NULL, 0, 0 },
};
#undef E

static int email_finish(nloader_t *ld, void *conf, const nyaml_node_t *n, bool *placeholder)
{
    (void)placeholder;
    email_conf_t *c = conf;
    const nglobal_t *g = nloader_global(ld);
    if (c->to == NULL || !*c->to)
        return nloader_fail(ld, n, VIGIL_EPARSE, "missing to address in email config");
    c->e_smarthost = c->smarthost && *c->smarthost ? c->smarthost : g->smtp_smarthost;
    if (c->e_smarthost == NULL || !*c->e_smarthost)
        return nloader_fail(ld, n, VIGIL_EPARSE, "no global SMTP smarthost set");
    c->e_from = c->from && *c->from ? c->from : g->smtp_from;
    if (c->e_from == NULL || !*c->e_from)
        return nloader_fail(ld, n, VIGIL_EPARSE, "no global SMTP from set");
    c->e_user = c->auth_username ? c->auth_username : g->smtp_auth_username;
    c->e_pass = c->auth_password ? c->auth_password : g->smtp_auth_password;
    c->tls = c->require_tls < 0 ? g->smtp_require_tls : c->require_tls == 1;
    if (c->html != NULL)
        return nloader_fail(ld, n, VIGIL_ENOTSUP, "html email bodies are not supported yet; "
                            "use text");
    const char *subject = c->subject;
    for (size_t i = 0; i < c->headers.n; i++)
        if (strcasecmp(c->headers.k[i], "Subject") == 0)
            subject = c->headers.v[i];
        else
            return nloader_fail(ld, n, VIGIL_ENOTSUP, "email header %s is not supported yet "
                                "(only Subject)", c->headers.k[i]);
    if (tmpl_or(ld, &c->t_to, c->to, NULL, n, "to") ||
        tmpl_or(ld, &c->t_from, c->e_from, NULL, n, "from") ||
        tmpl_or(ld, &c->t_subject, subject, "{{ template \"email.default.subject\" . }}", n,
                "subject") ||
        tmpl_or(ld, &c->t_text, c->text ? c->text : c->body,
                "{{ template \"email.default.text\" . }}", n, "text"))
        return VIGIL_EPARSE;
    return 0;
}

static void email_free(void *conf)
{
    email_conf_t *c = conf;
    ntmpl_free(&c->t_to);
    ntmpl_free(&c->t_from);
    ntmpl_free(&c->t_subject);
    ntmpl_free(&c->t_text);
}

typedef struct upload {
    const char *data;
    size_t      len, off;
} upload_t;

static size_t read_cb(char *dst, size_t size, size_t n, void *ctx)
{
    upload_t *u = ctx;
    size_t want = size * n, left = u->len - u->off;
    if (want > left)
        want = left;
    memcpy(dst, u->data + u->off, want);
    u->off += want;
    return want;
}

/* Sends `msg` (headers and CRLF body) to the comma-separated `to` through c's smarthost with
 * libcurl: SMTPS on port 465, STARTTLS when require_tls, AUTH when a user is set. */
static int smtp_send(const email_conf_t *c, const char *from, const char *to, const buf_t *msg,
                     int timeout_ms, char *why, size_t why_len)
{
    CURL *cu = curl_easy_init();
    char *list = strdup(to);
    if (cu == NULL || list == NULL) {
        curl_easy_cleanup(cu);
        free(list);
        return snprintf(why, why_len, "out of memory"), VIGIL_ENOMEM;
    }
    char url[512];
    const char *hp = c->e_smarthost;
    bool smtps = strlen(hp) > 4 && strcmp(hp + strlen(hp) - 4, ":465") == 0;
    snprintf(url, sizeof(url), "%s://%s", smtps ? "smtps" : "smtp", hp);
    struct curl_slist *rcpt = NULL;
    char *save = NULL;
    for (char *a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
        while (*a == ' ')
            a++;
        rcpt = curl_slist_append(rcpt, a);
    }
    upload_t up = { .data = msg->data, .len = msg->len };
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(cu, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(cu, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(cu, CURLOPT_READDATA, &up);
    curl_easy_setopt(cu, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
    if (c->tls && !smtps)
        curl_easy_setopt(cu, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (c->e_user != NULL) {
        curl_easy_setopt(cu, CURLOPT_USERNAME, c->e_user);
        curl_easy_setopt(cu, CURLOPT_PASSWORD, c->e_pass ? c->e_pass : "");
    }
    CURLcode cr = curl_easy_perform(cu);
    int rc = 0;
    if (cr != CURLE_OK) {
        snprintf(why, why_len, "SMTP %s: %s", url, curl_easy_strerror(cr));
        rc = VIGIL_EIO;
    }
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(cu);
    free(list);
    return rc;
}

static int email_notify(const void *conf, const nmessage_t *m, int timeout_ms, char *why,
                        size_t why_len)
{
    const email_conf_t *c = conf;
    char *to = render(&c->t_to, m, why, why_len);
    char *from = to ? render(&c->t_from, m, why, why_len) : NULL;
    char *subject = from ? render(&c->t_subject, m, why, why_len) : NULL;
    char *text = subject ? render(&c->t_text, m, why, why_len) : NULL;
    int rc = text ? 0 : VIGIL_EINVAL;
    buf_t msg;
    buf_init(&msg, 4u << 20);
    if (rc == 0) {
        char date[64];
        time_t now = (time_t)(m->now_ms / 1000);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
        for (char *p = subject; *p; p++)
            if (*p == '\r' || *p == '\n')
                *p = ' ';  /* a header must stay one line */
        rc = buf_printf(&msg, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n"
                        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n",
                        from, to, subject, date);
        /* body lines: CRLF, and a leading '.' doubled (RFC 5321 transparency is curl's job,
         * but bare LF is ours) */
        for (const char *p = text; rc == 0 && *p; p++)
            rc = *p == '\n' ? buf_puts(&msg, "\r\n") : buf_putc(&msg, *p);
    }
    if (rc == 0)
        rc = smtp_send(c, from, to, &msg, timeout_ms, why, why_len);
    buf_free(&msg);
    free(to);
    free(from);
    free(subject);
    free(text);
    return rc;
}

/* ---- exec (vigil) -------------------------------------------------------------------------- */

typedef struct exec_conf {
    int        send_resolved;
    nstrlist_t command;
    int64_t    timeout;
} exec_conf_t;

#define X(f) offsetof(exec_conf_t, f)
static const nfield_t exec_fields[] = {
    { "send_resolved", NF_BOOL, X(send_resolved) },
    { "command", NF_STRLIST, X(command) },
    { "timeout", NF_DURATION, X(timeout) },
    { NULL, 0, 0 },
};
#undef X

static int exec_finish(nloader_t *ld, void *conf, const nyaml_node_t *n, bool *placeholder)
{
    (void)placeholder;
    exec_conf_t *c = conf;
    if (c->command.n == 0 || c->command.v[0][0] == '\0')
        return nloader_fail(ld, n, VIGIL_EPARSE, "missing command in exec config");
    if (c->timeout < 0)
        c->timeout = 10000;
    if (c->timeout == 0)
        return nloader_fail(ld, n, VIGIL_EPARSE, "exec timeout cannot be zero");
    return 0;
}

static int exec_notify(const void *conf, const nmessage_t *m, int timeout_ms, char *why,
                       size_t why_len)
{
    const exec_conf_t *c = conf;
    (void)timeout_ms;
    char *body = npayload_webhook(m, 0);
    if (body == NULL)
        return snprintf(why, why_len, "out of memory"), VIGIL_ENOMEM;
    char **argv = calloc(c->command.n + 1, sizeof(char *));
    int in[2];
    if (argv == NULL || pipe2(in, O_CLOEXEC) != 0) {
        free(argv);
        free(body);
        return snprintf(why, why_len, "exec: %s", strerror(errno)), VIGIL_ESYS;
    }
    for (size_t i = 0; i < c->command.n; i++)
        argv[i] = c->command.v[i];
    pid_t pid = fork();
    if (pid == 0) {
        /* child: stdin from the pipe, stdout to /dev/null (it must not mix into the agent's
         * output), stderr inherited for the agent's log, no shell */
        dup2(in[0], 0);
        int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (nul >= 0)
            dup2(nul, 1);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    free(argv);
    int rc = 0;
    if (pid < 0) {
        close(in[1]);
        free(body);
        return snprintf(why, why_len, "exec: fork: %s", strerror(errno)), VIGIL_ESYS;
    }
    /* The payload is small next to a pipe buffer for typical groups; a reader that never
     * reads is still bounded by the timeout below because the write end is non-blocking. */
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    size_t len = strlen(body), off = 0;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int status = 0;
    bool done = false, timed_out = false;
    for (;;) {
        if (off < len) {
            ssize_t w = write(in[1], body + off, len - off);
            if (w > 0)
                off += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EINTR)
                off = len;  /* the child closed stdin: nothing more to give it */
            if (off >= len) {
                close(in[1]);
                in[1] = -1;
            }
        }
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            done = true;
            break;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t el = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (el >= c->timeout) {
            timed_out = true;
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        struct timespec pause = { 0, 5 * 1000 * 1000 };
        nanosleep(&pause, NULL);
    }
    if (in[1] >= 0)
        close(in[1]);
    free(body);
    if (timed_out)
        rc = (snprintf(why, why_len, "exec %s: killed after %lld ms", c->command.v[0],
                       (long long)c->timeout), VIGIL_ETIMEOUT);
    else if (done && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        rc = (snprintf(why, why_len, "exec %s: exit status %d", c->command.v[0],
                       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)),
              VIGIL_EIO);
    return rc;
}

/* ---- file (vigil) ------------------------------------------------------------------------------ */

typedef struct file_conf {
    int   send_resolved;
    char *path;
} file_conf_t;

static const nfield_t file_fields[] = {
    { "send_resolved", NF_BOOL, offsetof(file_conf_t, send_resolved) },
    { "path", NF_STRING, offsetof(file_conf_t, path) },
    { NULL, 0, 0 },
};

static int file_finish(nloader_t *ld, void *conf, const nyaml_node_t *n, bool *placeholder)
{
    (void)placeholder;
    file_conf_t *c = conf;
    if (c->path == NULL || !*c->path)
        return nloader_fail(ld, n, VIGIL_EPARSE, "missing path in file config");
    return 0;
}

static int file_notify(const void *conf, const nmessage_t *m, int timeout_ms, char *why,
                       size_t why_len)
{
    (void)timeout_ms;
    const file_conf_t *c = conf;
    char *body = npayload_webhook(m, 0);
    if (body == NULL)
        return snprintf(why, why_len, "out of memory"), VIGIL_ENOMEM;
    size_t len = strlen(body);
    body[len] = '\n';  /* the NUL's byte is ours: replace it, write len + 1 */
    int fd = open(c->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    int rc = 0;
    if (fd < 0) {
        rc = (snprintf(why, why_len, "%s: %s", c->path, strerror(errno)), VIGIL_EIO);
    } else {
        /* one write: concurrent appenders never interleave within a line */
        ssize_t w = write(fd, body, len + 1);
        if (w != (ssize_t)(len + 1))
            rc = (snprintf(why, why_len, "%s: short write", c->path), VIGIL_EIO);
        close(fd);
    }
    free(body);
    return rc;
}

/* ---- the table ------------------------------------------------------------------------------ */

const nintegration_ops_t notify_integrations[] = {
    { "webhook_configs", "webhook", true, sizeof(webhook_conf_t), webhook_fields,
      webhook_finish, webhook_notify, NULL },
    { "slack_configs", "slack", false, sizeof(slack_conf_t), slack_fields, slack_finish,
      slack_notify, slack_free },
    { "pagerduty_configs", "pagerduty", true, sizeof(pagerduty_conf_t), pagerduty_fields,
      pagerduty_finish, pagerduty_notify, pagerduty_free },
    { "email_configs", "email", false, sizeof(email_conf_t), email_fields, email_finish,
      email_notify, email_free },
    { "exec_configs", "exec", true, sizeof(exec_conf_t), exec_fields, exec_finish,
      exec_notify, NULL },
    { "file_configs", "file", true, sizeof(file_conf_t), file_fields, file_finish,
      file_notify, NULL },
    { NULL, NULL, false, 0, NULL, NULL, NULL, NULL },
};

const char *notify_integration_name(size_t i)
{
    size_t n = sizeof(notify_integrations) / sizeof(notify_integrations[0]) - 1;
    return i < n ? notify_integrations[i].name : NULL;
}
