/*
 * parse.c - template text -> syntax tree, with every check Go's parser makes plus the ones
 * that keep vigil honest: an unknown or deliberately unsupported function (query, ...), an
 * undefined variable, a {{template}} of a name nobody defines, break/continue outside range.
 *
 * The lexer works on the raw text with one position; line:col are computed from the byte
 * offset on demand (forward scan from a cached point, since positions mostly increase).
 * Delimiters are {{ }} only; "{{- " trims the whitespace before an action, " -}}" after it.
 */
#include "template/tmpl_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum tok_kind {
    T_EOF, T_RDELIM, T_FIELD, T_DOT, T_VAR, T_IDENT, T_STRING, T_NUMBER, T_PIPE,
    T_LPAREN, T_RPAREN, T_DECLARE, T_ASSIGN, T_COMMA,
} tok_kind_t;

typedef struct tok {
    tok_kind_t  kind;
    size_t      pos;       /* byte offset of the first character */
    size_t      end;       /* one past the last */
    bool        trim;      /* T_RDELIM: " -}}" */
} tok_t;

typedef struct parser {
    const char    *src;
    size_t         len;
    size_t         pos;
    const char    *name;
    template_t    *t;
    vigil_error_t *err;
    int            rc;
    /* line:col cache */
    size_t         lc_pos;
    int            lc_line, lc_col;
    /* variables in scope (names without '$'), innermost last */
    char         **vars;
    size_t         nvars, capvars;
    int            depth;
    int            in_range;
    /* {{template "x"}} names, checked once everything is parsed */
    struct { char *name; size_t pos; } *calls;
    size_t         ncalls, capcalls;
} parser_t;

typedef enum term {
    TERM_EOF, TERM_END, TERM_ELSE, TERM_ELSE_IF, TERM_ELSE_WITH, TERM_ERROR,
} term_t;

static void linecol(parser_t *p, size_t pos, int *line, int *col)
{
    if (pos < p->lc_pos) {
        p->lc_pos = 0;
        p->lc_line = 1;
        p->lc_col = 1;
    }
    for (; p->lc_pos < pos && p->lc_pos < p->len; p->lc_pos++) {
        if (p->src[p->lc_pos] == '\n') {
            p->lc_line++;
            p->lc_col = 1;
        } else {
            p->lc_col++;
        }
    }
    *line = p->lc_line;
    *col = p->lc_col;
}

__attribute__((format(printf, 4, 5)))
static int fail(parser_t *p, size_t pos, int code, const char *fmt, ...)
{
    if (p->rc != 0)
        return p->rc;  /* keep the first error */
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int line, col;
    linecol(p, pos, &line, &col);
    p->rc = vigil_error_set(p->err, code, "%s:%d:%d: %s", p->name, line, col, msg);
    return p->rc;
}

/* ---- variables in scope ------------------------------------------------------------------ */

static int var_push(parser_t *p, const char *name, size_t len)
{
    if (p->nvars == p->capvars) {
        size_t ncap = p->capvars ? p->capvars * 2 : 16;
        char **v = realloc(p->vars, ncap * sizeof(*v));
        if (v == NULL)
            return fail(p, p->pos, VIGIL_ENOMEM, "out of memory");
        p->vars = v;
        p->capvars = ncap;
    }
    if ((p->vars[p->nvars] = strndup(name, len)) == NULL)
        return fail(p, p->pos, VIGIL_ENOMEM, "out of memory");
    p->nvars++;
    return 0;
}

static void var_pop_to(parser_t *p, size_t mark)
{
    while (p->nvars > mark)
        free(p->vars[--p->nvars]);
}

static bool var_defined(const parser_t *p, const char *name, size_t len)
{
    for (size_t i = p->nvars; i-- > 0;)
        if (strlen(p->vars[i]) == len && memcmp(p->vars[i], name, len) == 0)
            return true;
    return false;
}

/* ---- lexer --------------------------------------------------------------------------------- */

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static bool is_alnum_(char c) { return isalnum((unsigned char)c) || c == '_' ||
                                       (unsigned char)c >= 0x80; }

/* Reads the next token of an action. Leaves p->pos after it. */
static int lex(parser_t *p, tok_t *t)
{
    const char *s = p->src;
    size_t i = p->pos;
    bool spaced = i > 0 && is_space(s[i - 1]);
    while (i < p->len && is_space(s[i])) {
        i++;
        spaced = true;
    }
    memset(t, 0, sizeof(*t));
    t->pos = i;
    if (i >= p->len) {
        t->kind = T_EOF;
        p->pos = i;
        return fail(p, i, VIGIL_EPARSE, "unclosed action");
    }
    char c = s[i];
    if (c == '-' && spaced && i + 2 < p->len + 1 && s[i + 1] == '}' && s[i + 2] == '}') {
        t->kind = T_RDELIM;
        t->trim = true;
        t->end = i + 3;
    } else if (c == '}' && i + 1 < p->len && s[i + 1] == '}') {
        t->kind = T_RDELIM;
        t->end = i + 2;
    } else if (c == '|') {
        t->kind = T_PIPE;
        t->end = i + 1;
    } else if (c == '(') {
        t->kind = T_LPAREN;
        t->end = i + 1;
    } else if (c == ')') {
        t->kind = T_RPAREN;
        t->end = i + 1;
    } else if (c == ',') {
        t->kind = T_COMMA;
        t->end = i + 1;
    } else if (c == ':' && i + 1 < p->len && s[i + 1] == '=') {
        t->kind = T_DECLARE;
        t->end = i + 2;
    } else if (c == '=' && !(i + 1 < p->len && s[i + 1] == '=')) {
        t->kind = T_ASSIGN;
        t->end = i + 1;
    } else if (c == '"') {
        size_t j = i + 1;
        while (j < p->len && s[j] != '"' && s[j] != '\n') {
            if (s[j] == '\\' && j + 1 < p->len)
                j++;
            j++;
        }
        if (j >= p->len || s[j] != '"')
            return fail(p, i, VIGIL_EPARSE, "unterminated quoted string");
        t->kind = T_STRING;
        t->end = j + 1;
    } else if (c == '`') {
        const char *e = memchr(s + i + 1, '`', p->len - i - 1);
        if (e == NULL)
            return fail(p, i, VIGIL_EPARSE, "unterminated raw quoted string");
        t->kind = T_STRING;
        t->end = (size_t)(e - s) + 1;
    } else if (c == '\'') {
        return fail(p, i, VIGIL_ENOTSUP, "character constants are not supported");
    } else if (c == '.' && i + 1 < p->len && isdigit((unsigned char)s[i + 1])) {
        goto number;
    } else if (c == '.') {
        size_t j = i + 1;
        while (j < p->len && is_alnum_(s[j]))
            j++;
        t->kind = j == i + 1 ? T_DOT : T_FIELD;
        t->end = j;
    } else if (c == '$') {
        size_t j = i + 1;
        while (j < p->len && is_alnum_(s[j]))
            j++;
        t->kind = T_VAR;
        t->end = j;
    } else if (isdigit((unsigned char)c) ||
               ((c == '-' || c == '+') && i + 1 < p->len &&
                (isdigit((unsigned char)s[i + 1]) || s[i + 1] == '.'))) {
    number:;
        size_t j = i + 1;
        while (j < p->len && (isalnum((unsigned char)s[j]) || s[j] == '.' || s[j] == '_' ||
                              ((s[j] == '+' || s[j] == '-') &&
                               strchr("eEpP", s[j - 1]) != NULL)))
            j++;
        t->kind = T_NUMBER;
        t->end = j;
    } else if (is_alnum_(c)) {
        size_t j = i;
        while (j < p->len && is_alnum_(s[j]))
            j++;
        t->kind = T_IDENT;
        t->end = j;
    } else {
        return fail(p, i, VIGIL_EPARSE, "unexpected \"%c\" in command", c);
    }
    p->pos = t->end;
    return 0;
}

static bool tok_is(const parser_t *p, const tok_t *t, const char *word)
{
    size_t n = strlen(word);
    return t->kind == T_IDENT && t->end - t->pos == n && memcmp(p->src + t->pos, word, n) == 0;
}

/* ---- tree construction and release ------------------------------------------------------- */

static void pipe_free(tmpl_pipe_t *pp);

static void arg_free(tmpl_arg_t *a)
{
    for (int i = 0; i < a->nchain; i++)
        free(a->chain[i]);
    free(a->chain);
    free(a->var);
    free(a->lit.s);
    pipe_free(a->sub);
}

static void pipe_free(tmpl_pipe_t *pp)
{
    if (pp == NULL)
        return;
    for (int i = 0; i < pp->ncmds; i++) {
        for (int j = 0; j < pp->cmds[i].nargs; j++)
            arg_free(&pp->cmds[i].args[j]);
        free(pp->cmds[i].args);
    }
    free(pp->cmds);
    free(pp->decl[0]);
    free(pp->decl[1]);
    free(pp);
}

void tmpl_nodes_free(tmpl_node_t *n)
{
    while (n != NULL) {
        tmpl_node_t *next = n->next;
        free(n->text);
        pipe_free(n->pipe);
        tmpl_nodes_free(n->body);
        tmpl_nodes_free(n->elseb);
        free(n);
        n = next;
    }
}

static tmpl_node_t *node_new(parser_t *p, tmpl_node_kind_t kind, size_t pos)
{
    tmpl_node_t *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        fail(p, pos, VIGIL_ENOMEM, "out of memory");
        return NULL;
    }
    n->kind = kind;
    linecol(p, pos, &n->line, &n->col);
    return n;
}

/* Decodes a Go string literal token into a malloc'd string (*out, caller frees). */
static int unquote(parser_t *p, const tok_t *t, char **out)
{
    const char *s = p->src + t->pos;
    size_t n = t->end - t->pos;
    if (s[0] == '`') {
        *out = strndup(s + 1, n - 2);
        return *out ? 0 : fail(p, t->pos, VIGIL_ENOMEM, "out of memory");
    }
    buf_t b;
    buf_init(&b, n + 1);
    for (size_t i = 1; i + 1 < n; i++) {
        char c = s[i];
        if (c != '\\') {
            buf_putc(&b, c);
            continue;
        }
        c = s[++i];
        unsigned long cp = 0;
        int digits = 0, base = 16;
        switch (c) {
        case 'n': buf_putc(&b, '\n'); continue;
        case 't': buf_putc(&b, '\t'); continue;
        case 'r': buf_putc(&b, '\r'); continue;
        case 'a': buf_putc(&b, '\a'); continue;
        case 'b': buf_putc(&b, '\b'); continue;
        case 'f': buf_putc(&b, '\f'); continue;
        case 'v': buf_putc(&b, '\v'); continue;
        case '\\': case '"': buf_putc(&b, c); continue;
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        default:
            if (c >= '0' && c <= '7') {
                digits = 3;
                base = 8;
                i--;
                break;
            }
            buf_free(&b);
            return fail(p, t->pos + i - 1, VIGIL_EPARSE, "invalid syntax in quoted string");
        }
        for (int d = 0; d < digits; d++) {
            char h = i + 1 + (size_t)d < n - 1 ? s[i + 1 + (size_t)d] : '\0';
            int v = isdigit((unsigned char)h) ? h - '0'
                  : (base == 16 && isxdigit((unsigned char)h)) ? (tolower(h) - 'a' + 10) : -1;
            if (v < 0 || v >= base) {
                buf_free(&b);
                return fail(p, t->pos, VIGIL_EPARSE, "invalid syntax in quoted string");
            }
            cp = cp * (unsigned long)base + (unsigned long)v;
        }
        i += (size_t)digits;
        if (c == 'x' || base == 8) {
            if (cp > 255) {
                buf_free(&b);
                return fail(p, t->pos, VIGIL_EPARSE, "invalid syntax in quoted string");
            }
            buf_putc(&b, (char)cp);
        } else if (cp < 0x80) {
            buf_putc(&b, (char)cp);
        } else if (cp < 0x800) {
            buf_putc(&b, (char)(0xc0 | (cp >> 6)));
            buf_putc(&b, (char)(0x80 | (cp & 0x3f)));
        } else if (cp < 0x10000) {
            buf_putc(&b, (char)(0xe0 | (cp >> 12)));
            buf_putc(&b, (char)(0x80 | ((cp >> 6) & 0x3f)));
            buf_putc(&b, (char)(0x80 | (cp & 0x3f)));
        } else if (cp < 0x110000) {
            buf_putc(&b, (char)(0xf0 | (cp >> 18)));
            buf_putc(&b, (char)(0x80 | ((cp >> 12) & 0x3f)));
            buf_putc(&b, (char)(0x80 | ((cp >> 6) & 0x3f)));
            buf_putc(&b, (char)(0x80 | (cp & 0x3f)));
        } else {
            buf_free(&b);
            return fail(p, t->pos, VIGIL_EPARSE, "invalid syntax in quoted string");
        }
    }
    *out = buf_detach(&b, NULL);
    return *out ? 0 : fail(p, t->pos, VIGIL_ENOMEM, "out of memory");
}

/* Go number literal -> int or float literal value. */
static int number(parser_t *p, const tok_t *t, template_value_t *v)
{
    char text[80], clean[80];
    size_t n = t->end - t->pos, o = 0;
    if (n >= sizeof(text))
        return fail(p, t->pos, VIGIL_EPARSE, "bad number syntax");
    memcpy(text, p->src + t->pos, n);
    text[n] = '\0';
    for (size_t i = 0; i < n; i++)  /* Go allows 1_000 */
        if (text[i] != '_')
            clean[o++] = text[i];
    clean[o] = '\0';
    bool hex = strstr(clean, "0x") || strstr(clean, "0X");
    char *end;
    errno = 0;
    if (!strpbrk(clean, ".pP") && (hex || !strpbrk(clean, "eE"))) {
        const char *digits = clean;
        int base = 10;
        bool neg = false;
        if (*digits == '+' || *digits == '-')
            neg = *digits++ == '-';
        if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X'))
            base = 16, digits += 2;
        else if (digits[0] == '0' && (digits[1] == 'o' || digits[1] == 'O'))
            base = 8, digits += 2;
        else if (digits[0] == '0' && (digits[1] == 'b' || digits[1] == 'B'))
            base = 2, digits += 2;
        else if (digits[0] == '0' && digits[1] != '\0')
            base = 8, digits += 1;
        long long iv = strtoll(digits, &end, base);
        if (*digits == '\0' || *end != '\0' || *digits == '-' || *digits == '+')
            return fail(p, t->pos, VIGIL_EPARSE, "bad number syntax: \"%s\"", text);
        if (errno == ERANGE)
            return fail(p, t->pos, VIGIL_EPARSE, "integer overflow: \"%s\"", text);
        v->kind = TEMPLATE_INT;
        v->i = neg ? -iv : iv;
        return 0;
    }
    double d = strtod(clean, &end);
    if (*end != '\0' || end == clean)
        return fail(p, t->pos, VIGIL_EPARSE, "bad number syntax: \"%s\"", text);
    v->kind = TEMPLATE_FLOAT;
    v->f = d;
    return 0;
}

/* ---- pipelines ----------------------------------------------------------------------------- */

static tmpl_pipe_t *parse_pipe(parser_t *p, size_t at, bool decl_ok, int max_decl,
                               tok_kind_t end, bool *trim);

static int push_chain(parser_t *p, tmpl_arg_t *a, const char *name, size_t len)
{
    char **c = realloc(a->chain, (size_t)(a->nchain + 1) * sizeof(*c));
    if (c == NULL)
        return fail(p, p->pos, VIGIL_ENOMEM, "out of memory");
    a->chain = c;
    if ((c[a->nchain] = strndup(name, len)) == NULL)
        return fail(p, p->pos, VIGIL_ENOMEM, "out of memory");
    a->nchain++;
    return 0;
}

/* Parses one operand starting at token `t`. */
static int parse_operand(parser_t *p, const tok_t *t, tmpl_arg_t *a)
{
    const char *s = p->src;
    memset(a, 0, sizeof(*a));
    linecol(p, t->pos, &a->line, &a->col);
    switch (t->kind) {
    case T_DOT:
        a->kind = ARG_DOT;
        break;
    case T_FIELD:
        a->kind = ARG_FIELD;
        if (push_chain(p, a, s + t->pos + 1, t->end - t->pos - 1) != 0)
            return p->rc;
        break;
    case T_VAR:
        a->kind = ARG_VAR;
        if (!var_defined(p, s + t->pos + 1, t->end - t->pos - 1))
            return fail(p, t->pos, VIGIL_EPARSE, "undefined variable \"%.*s\"",
                        (int)(t->end - t->pos), s + t->pos);
        if ((a->var = strndup(s + t->pos + 1, t->end - t->pos - 1)) == NULL)
            return fail(p, t->pos, VIGIL_ENOMEM, "out of memory");
        break;
    case T_STRING:
        a->kind = ARG_LITERAL;
        a->lit.kind = TEMPLATE_STRING;
        a->lit.borrowed = true;
        return unquote(p, t, &a->lit.s);
    case T_NUMBER:
        a->kind = ARG_LITERAL;
        a->lit.borrowed = true;
        return number(p, t, &a->lit);
    case T_LPAREN:
        a->kind = ARG_PIPE;
        if (++p->depth > TMPL_MAX_DEPTH)
            return fail(p, t->pos, VIGIL_ELIMIT, "expression nested too deeply");
        a->sub = parse_pipe(p, t->pos, false, 0, T_RPAREN, NULL);
        p->depth--;
        if (a->sub == NULL)
            return p->rc;
        break;
    case T_IDENT: {
        char word[64];
        size_t n = t->end - t->pos;
        snprintf(word, sizeof(word), "%.*s", (int)(n < 63 ? n : 63), s + t->pos);
        a->kind = ARG_LITERAL;
        a->lit.borrowed = true;
        if (strcmp(word, "true") == 0 || strcmp(word, "false") == 0) {
            a->lit.kind = TEMPLATE_BOOL;
            a->lit.b = word[0] == 't';
            return 0;
        }
        if (strcmp(word, "nil") == 0) {
            a->lit.kind = TEMPLATE_NIL;
            return 0;
        }
        const char *why = NULL;
        a->kind = ARG_FUNC;
        a->fn = n < 63 ? tmpl_func_find(word, &why) : NULL;
        if (a->fn == NULL && why != NULL)
            return fail(p, t->pos, VIGIL_ENOTSUP, "function \"%s\" is not supported: %s",
                        word, why);
        if (a->fn == NULL)
            return fail(p, t->pos, VIGIL_EPARSE, "function \"%.*s\" not defined", (int)n,
                        s + t->pos);
        return 0;
    }
    default:
        return fail(p, t->pos, VIGIL_EPARSE, "unexpected \"%.*s\" in operand",
                    (int)(t->end - t->pos), s + t->pos);
    }
    /* Adjacent fields chain: .A.B, $x.A, (pipe).A */
    while (p->pos < p->len && s[p->pos] == '.' && p->pos + 1 < p->len &&
           is_alnum_(s[p->pos + 1]) && !isdigit((unsigned char)s[p->pos + 1])) {
        tok_t f;
        if (lex(p, &f) != 0)
            return p->rc;
        if (push_chain(p, a, s + f.pos + 1, f.end - f.pos - 1) != 0)
            return p->rc;
    }
    return 0;
}

/* Parses "[decl] cmd | cmd ..." up to a token of kind `end` (T_RDELIM or T_RPAREN). For
 * T_RDELIM, *trim says whether it was " -}}". The caller frees the result with pipe_free. */
static tmpl_pipe_t *parse_pipe(parser_t *p, size_t at, bool decl_ok, int max_decl,
                               tok_kind_t end, bool *trim)
{
    tmpl_pipe_t *pp = calloc(1, sizeof(*pp));
    if (pp == NULL) {
        fail(p, at, VIGIL_ENOMEM, "out of memory");
        return NULL;
    }
    linecol(p, at, &pp->line, &pp->col);
    tok_t t;
    /* Declarations: $x := / $x = / $i, $v := (range). Look ahead and rewind if it is not. */
    if (decl_ok) {
        size_t save = p->pos;
        tok_t v[2], op;
        int nv = 0;
        while (nv < max_decl) {
            if (lex(p, &v[nv]) != 0 || v[nv].kind != T_VAR)
                break;
            nv++;
            if (lex(p, &op) != 0)
                break;
            if (op.kind == T_DECLARE || op.kind == T_ASSIGN) {
                for (int i = 0; i < nv; i++) {
                    const char *nm = p->src + v[i].pos + 1;
                    size_t nl = v[i].end - v[i].pos - 1;
                    if (op.kind == T_ASSIGN && !var_defined(p, nm, nl)) {
                        fail(p, v[i].pos, VIGIL_EPARSE, "undefined variable \"$%.*s\"",
                             (int)nl, nm);
                        goto out_fail;
                    }
                    if ((pp->decl[i] = strndup(nm, nl)) == NULL) {
                        fail(p, v[i].pos, VIGIL_ENOMEM, "out of memory");
                        goto out_fail;
                    }
                    if (op.kind == T_DECLARE && var_push(p, nm, nl) != 0)
                        goto out_fail;
                }
                pp->ndecl = nv;
                pp->assign = op.kind == T_ASSIGN;
                save = p->pos;
                break;
            }
            if (op.kind != T_COMMA)
                break;
        }
        p->rc = pp->ndecl ? p->rc : 0;
        if (pp->ndecl == 0 && p->err != NULL)
            vigil_error_clear(p->err);
        p->pos = save;
    }
    for (;;) {
        tmpl_cmd_t cmd = { 0 };
        linecol(p, p->pos, &cmd.line, &cmd.col);
        for (;;) {
            if (lex(p, &t) != 0)
                goto out_cmd;
            if (t.kind == end || t.kind == T_PIPE)
                break;
            if (t.kind == T_RDELIM || t.kind == T_RPAREN) {
                fail(p, t.pos, VIGIL_EPARSE, "unexpected \"%.*s\" in %s",
                     (int)(t.end - t.pos), p->src + t.pos,
                     end == T_RPAREN ? "parenthesized pipeline" : "command");
                goto out_cmd;
            }
            tmpl_arg_t *args = realloc(cmd.args, (size_t)(cmd.nargs + 1) * sizeof(*args));
            if (args == NULL) {
                fail(p, t.pos, VIGIL_ENOMEM, "out of memory");
                goto out_cmd;
            }
            cmd.args = args;
            if (parse_operand(p, &t, &cmd.args[cmd.nargs]) != 0) {
                arg_free(&cmd.args[cmd.nargs]);
                goto out_cmd;
            }
            cmd.nargs++;
        }
        if (cmd.nargs == 0) {
            fail(p, t.pos, VIGIL_EPARSE, "missing value for command");
            goto out_cmd;
        }
        tmpl_arg_kind_t k0 = cmd.args[0].kind;
        bool callable = k0 == ARG_FUNC || k0 == ARG_FIELD || k0 == ARG_VAR;
        if (cmd.nargs > 1 && !callable) {
            fail(p, t.pos, VIGIL_EPARSE, "can't give argument to non-function");
            goto out_cmd;
        }
        if (pp->ncmds > 0 && !callable && k0 != ARG_PIPE) {
            fail(p, t.pos, VIGIL_EPARSE, "non executable command in pipeline stage %d",
                 pp->ncmds + 1);
            goto out_cmd;
        }
        if (cmd.nargs == 1 && k0 == ARG_LITERAL && cmd.args[0].lit.kind == TEMPLATE_NIL) {
            fail(p, t.pos, VIGIL_EPARSE, "nil is not a command");
            goto out_cmd;
        }
        tmpl_cmd_t *cmds = realloc(pp->cmds, (size_t)(pp->ncmds + 1) * sizeof(*cmds));
        if (cmds == NULL) {
            fail(p, t.pos, VIGIL_ENOMEM, "out of memory");
            goto out_cmd;
        }
        pp->cmds = cmds;
        pp->cmds[pp->ncmds++] = cmd;
        if (t.kind == end)
            break;
        continue;
    out_cmd:
        for (int j = 0; j < cmd.nargs; j++)
            arg_free(&cmd.args[j]);
        free(cmd.args);
        goto out_fail;
    }
    if (trim != NULL)
        *trim = t.trim;
    return pp;
out_fail:
    pipe_free(pp);
    return NULL;
}

/* ---- actions and lists ---------------------------------------------------------------------- */

/* After the keyword of "{{end}}" / "{{else}}" / "{{break}}": only the delimiter may follow. */
static int expect_rdelim(parser_t *p, const char *what, bool *trim)
{
    tok_t t;
    if (lex(p, &t) != 0)
        return p->rc;
    if (t.kind != T_RDELIM)
        return fail(p, t.pos, VIGIL_EPARSE, "unexpected \"%.*s\" in %s",
                    (int)(t.end - t.pos), p->src + t.pos, what);
    *trim = t.trim;
    return 0;
}

static int expect_name(parser_t *p, const char *what, char **name, size_t *at)
{
    /* Both outputs are set on every path, also the failing ones, so no caller can read
     * them uninitialised (and the compiler can see that). */
    *name = NULL;
    *at = p->pos;
    tok_t t;
    if (lex(p, &t) != 0)
        return p->rc;
    *at = t.pos;
    if (t.kind != T_STRING)
        return fail(p, t.pos, VIGIL_EPARSE, "unexpected \"%.*s\" in %s clause",
                    (int)(t.end - t.pos), p->src + t.pos, what);
    return unquote(p, &t, name);
}

static int parse_list(parser_t *p, tmpl_node_t **head, term_t *term, bool *trim_after);

static int add_define(parser_t *p, char *name, tmpl_node_t *body, size_t at)
{
    for (size_t i = 0; i < p->t->ndefs; i++) {
        if (strcmp(p->t->defs[i].name, name) == 0) {
            /* Go lets an empty redefinition stand; anything else is an error. */
            free(name);
            tmpl_nodes_free(body);
            return fail(p, at, VIGIL_EPARSE, "template: multiple definition of template \"%s\"",
                        p->t->defs[i].name);
        }
    }
    tmpl_define_t *d = realloc(p->t->defs, (p->t->ndefs + 1) * sizeof(*d));
    if (d == NULL) {
        free(name);
        tmpl_nodes_free(body);
        return fail(p, at, VIGIL_ENOMEM, "out of memory");
    }
    p->t->defs = d;
    d[p->t->ndefs].name = name;
    d[p->t->ndefs].body = body;
    p->t->ndefs++;
    return 0;
}

static int note_call(parser_t *p, const char *name, size_t at)
{
    if (p->ncalls == p->capcalls) {
        size_t ncap = p->capcalls ? p->capcalls * 2 : 8;
        void *c = realloc(p->calls, ncap * sizeof(*p->calls));
        if (c == NULL)
            return fail(p, at, VIGIL_ENOMEM, "out of memory");
        p->calls = c;
        p->capcalls = ncap;
    }
    if ((p->calls[p->ncalls].name = strdup(name)) == NULL)
        return fail(p, at, VIGIL_ENOMEM, "out of memory");
    p->calls[p->ncalls++].pos = at;
    return 0;
}

/* Body of a define/block: a fresh variable scope holding only $. */
static int parse_define_body(parser_t *p, size_t at, tmpl_node_t **body, bool *trim)
{
    char **saved = p->vars;
    size_t saved_n = p->nvars, saved_cap = p->capvars;
    int saved_range = p->in_range;
    p->vars = NULL;
    p->nvars = p->capvars = 0;
    p->in_range = 0;
    term_t term = TERM_ERROR;
    int rc = var_push(p, "", 0);
    if (rc == 0)
        rc = parse_list(p, body, &term, trim);
    if (rc == 0 && term != TERM_END)
        rc = fail(p, at, VIGIL_EPARSE, "unexpected EOF: define without end");
    var_pop_to(p, 0);
    free(p->vars);
    p->vars = saved;
    p->nvars = saved_n;
    p->capvars = saved_cap;
    p->in_range = saved_range;
    return rc;
}

/* A control structure: if / range / with, after its keyword. `elif` is set when it is the
 * implicit structure of "else if" / "else with", which shares the outer {{end}}. */
static int parse_control(parser_t *p, tmpl_node_kind_t kind, size_t at, tmpl_node_t **out,
                         bool *trim_after)
{
    if (++p->depth > TMPL_MAX_DEPTH)
        return fail(p, at, VIGIL_ELIMIT, "control structures nested too deeply");
    size_t mark = p->nvars;
    bool trim = false;
    term_t term;
    tmpl_node_t *n = node_new(p, kind, at);
    if (n == NULL)
        return p->rc;
    *out = n;
    n->pipe = parse_pipe(p, at, true, kind == NODE_RANGE ? 2 : 1, T_RDELIM, &trim);
    if (n->pipe == NULL)
        goto out;
    if (kind == NODE_RANGE)
        p->in_range++;
    if (parse_list(p, &n->body, &term, &trim) != 0)
        goto out_range;
    if (kind == NODE_RANGE)
        p->in_range--;
    if (term == TERM_ELSE) {
        if (parse_list(p, &n->elseb, &term, &trim) != 0)
            goto out;
        if (term != TERM_END) {
            fail(p, at, VIGIL_EPARSE, term == TERM_EOF ? "unexpected EOF" :
                 "expected end; found else");
            goto out;
        }
    } else if (term == TERM_ELSE_IF || term == TERM_ELSE_WITH) {
        if (kind == NODE_RANGE) {
            fail(p, at, VIGIL_EPARSE, "unexpected else %s in range",
                 term == TERM_ELSE_IF ? "if" : "with");
            goto out;
        }
        /* "{{else if x}}" is "{{else}}{{if x}}...{{end}}" with the end shared. */
        if (parse_control(p, term == TERM_ELSE_IF ? NODE_IF : NODE_WITH, p->pos, &n->elseb,
                          &trim) != 0)
            goto out;
    } else if (term != TERM_END) {
        fail(p, at, VIGIL_EPARSE, "unexpected EOF");
        goto out;
    }
    *trim_after = trim;
    var_pop_to(p, mark);
    p->depth--;
    return 0;
out_range:
    if (kind == NODE_RANGE)
        p->in_range--;
out:
    var_pop_to(p, mark);
    p->depth--;
    return p->rc;
}

/* Parses one action after "{{" (and its trim marker). Appends zero or one node at **tail. */
static int parse_action(parser_t *p, tmpl_node_t ***tail, term_t *term, bool *trim_after)
{
    size_t start = p->pos;
    tok_t t;
    bool trim = false;
    *term = TERM_ERROR;
    if (lex(p, &t) != 0)
        return p->rc;
    tmpl_node_t *n = NULL;
    if (tok_is(p, &t, "end")) {
        if (expect_rdelim(p, "end", trim_after) != 0)
            return p->rc;
        *term = TERM_END;
        return 0;
    }
    if (tok_is(p, &t, "else")) {
        size_t save = p->pos;
        tok_t t2;
        if (lex(p, &t2) != 0)
            return p->rc;
        if (tok_is(p, &t2, "if") || tok_is(p, &t2, "with")) {
            *term = tok_is(p, &t2, "if") ? TERM_ELSE_IF : TERM_ELSE_WITH;
            return 0;  /* the caller parses the rest as a nested if/with */
        }
        p->pos = save;
        if (expect_rdelim(p, "else", trim_after) != 0)
            return p->rc;
        *term = TERM_ELSE;
        return 0;
    }
    if (tok_is(p, &t, "if") || tok_is(p, &t, "range") || tok_is(p, &t, "with")) {
        tmpl_node_kind_t k = tok_is(p, &t, "if") ? NODE_IF
                           : tok_is(p, &t, "range") ? NODE_RANGE : NODE_WITH;
        if (parse_control(p, k, t.pos, &n, trim_after) != 0) {
            tmpl_nodes_free(n);
            return p->rc;
        }
    } else if (tok_is(p, &t, "break") || tok_is(p, &t, "continue")) {
        bool brk = tok_is(p, &t, "break");
        if (p->in_range == 0)
            return fail(p, t.pos, VIGIL_EPARSE, "{{%s}} outside {{range}}",
                        brk ? "break" : "continue");
        if (expect_rdelim(p, brk ? "break" : "continue", trim_after) != 0)
            return p->rc;
        if ((n = node_new(p, brk ? NODE_BREAK : NODE_CONTINUE, t.pos)) == NULL)
            return p->rc;
    } else if (tok_is(p, &t, "define") || tok_is(p, &t, "block")) {
        bool block = tok_is(p, &t, "block");
        char *name = NULL;
        size_t at;
        if (p->depth > 0 && !block)
            return fail(p, t.pos, VIGIL_EPARSE, "unexpected <define> in command");
        if (expect_name(p, block ? "block" : "define", &name, &at) != 0)
            return p->rc;
        if (block) {
            if ((n = node_new(p, NODE_TEMPLATE, t.pos)) == NULL) {
                free(name);
                return p->rc;
            }
            n->text = name;
            if ((n->pipe = parse_pipe(p, t.pos, false, 0, T_RDELIM, &trim)) == NULL) {
                tmpl_nodes_free(n);
                return p->rc;
            }
            if ((name = strdup(name)) == NULL) {
                tmpl_nodes_free(n);
                return fail(p, at, VIGIL_ENOMEM, "out of memory");
            }
        } else if (expect_rdelim(p, "define", &trim) != 0) {
            free(name);
            return p->rc;
        }
        tmpl_node_t *body = NULL;
        p->depth++;
        int rc = parse_define_body(p, t.pos, &body, trim_after);
        p->depth--;
        if (rc != 0 || add_define(p, name, body, at) != 0) {
            if (rc != 0) {
                free(name);
                tmpl_nodes_free(body);
            }
            tmpl_nodes_free(n);
            return p->rc;
        }
        if (n == NULL) {
            *term = TERM_EOF;  /* a define leaves no node; the list goes on */
            return 0;
        }
    } else if (tok_is(p, &t, "template")) {
        char *name = NULL;
        size_t at;
        if (expect_name(p, "template", &name, &at) != 0)
            return p->rc;
        if ((n = node_new(p, NODE_TEMPLATE, t.pos)) == NULL) {
            free(name);
            return p->rc;
        }
        n->text = name;
        if (note_call(p, name, at) != 0) {
            tmpl_nodes_free(n);
            return p->rc;
        }
        size_t save = p->pos;
        tok_t t2;
        if (lex(p, &t2) != 0) {
            tmpl_nodes_free(n);
            return p->rc;
        }
        if (t2.kind == T_RDELIM) {
            *trim_after = t2.trim;
        } else {
            p->pos = save;
            if ((n->pipe = parse_pipe(p, t.pos, false, 0, T_RDELIM, trim_after)) == NULL) {
                tmpl_nodes_free(n);
                return p->rc;
            }
        }
    } else {
        p->pos = start;
        if ((n = node_new(p, NODE_ACTION, t.pos)) == NULL)
            return p->rc;
        if ((n->pipe = parse_pipe(p, t.pos, true, 1, T_RDELIM, trim_after)) == NULL) {
            tmpl_nodes_free(n);
            return p->rc;
        }
    }
    **tail = n;
    *tail = &n->next;
    *term = TERM_EOF;  /* "nothing ended": the caller goes on */
    return 0;
}

/* Parses text and actions until EOF or a terminating {{end}} / {{else...}}. *trim_after says
 * whether the terminating action was " -}}" (the text after it is left-trimmed). */
static int parse_list(parser_t *p, tmpl_node_t **head, term_t *term, bool *trim_after)
{
    tmpl_node_t **tail = head;
    bool ltrim = trim_after != NULL && *trim_after;
    for (;;) {
        const char *open = p->pos < p->len ? strstr(p->src + p->pos, "{{") : NULL;
        size_t text_end = open ? (size_t)(open - p->src) : p->len;
        size_t ts = p->pos, te = text_end;
        bool rtrim = open != NULL && open[2] == '-' && open + 3 < p->src + p->len &&
                     is_space(open[3]);
        if (ltrim)
            while (ts < te && is_space(p->src[ts]))
                ts++;
        if (rtrim)
            while (te > ts && is_space(p->src[te - 1]))
                te--;
        if (te > ts) {
            tmpl_node_t *n = node_new(p, NODE_TEXT, ts);
            if (n == NULL || (n->text = strndup(p->src + ts, te - ts)) == NULL) {
                free(n);
                return fail(p, ts, VIGIL_ENOMEM, "out of memory");
            }
            n->len = te - ts;
            *tail = n;
            tail = &n->next;
        }
        if (open == NULL) {
            p->pos = p->len;
            *term = TERM_EOF;
            return 0;
        }
        p->pos = text_end + 2 + (rtrim ? 2 : 0);
        /* Comments: a slash-star right after the delimiter, up to star-slash and "}}". */
        if (p->pos + 1 < p->len && p->src[p->pos] == '/' && p->src[p->pos + 1] == '*') {
            const char *close = strstr(p->src + p->pos + 2, "*/");
            if (close == NULL)
                return fail(p, text_end, VIGIL_EPARSE, "unclosed comment");
            size_t q = (size_t)(close - p->src) + 2;
            bool ctrim = false;
            if (q + 3 <= p->len && p->src[q] == ' ' && p->src[q + 1] == '-' &&
                p->src[q + 2] == '}' && p->src[q + 3] == '}') {
                ctrim = true;
                q += 4;
            } else if (q + 1 < p->len && p->src[q] == '}' && p->src[q + 1] == '}') {
                q += 2;
            } else {
                return fail(p, text_end, VIGIL_EPARSE, "comment ends before closing delimiter");
            }
            p->pos = q;
            ltrim = ctrim;
            continue;
        }
        bool trim = false;
        term_t t;
        if (parse_action(p, &tail, &t, &trim) != 0)
            return p->rc;
        ltrim = trim;
        if (t != TERM_EOF) {
            *term = t;
            if (trim_after != NULL)
                *trim_after = trim;
            return 0;
        }
    }
}

/* ---- entry points ---------------------------------------------------------------------------- */

const tmpl_define_t *tmpl_find_define(const template_t *t, const char *name)
{
    for (; t != NULL; t = t->lib)
        for (size_t i = 0; i < t->ndefs; i++)
            if (strcmp(t->defs[i].name, name) == 0)
                return &t->defs[i];
    return NULL;
}

bool template_is_plain(const char *text)
{
    return text == NULL || strstr(text, "{{") == NULL;
}

void template_free(template_t *t)
{
    if (t == NULL)
        return;
    tmpl_nodes_free(t->root);
    for (size_t i = 0; i < t->ndefs; i++) {
        free(t->defs[i].name);
        tmpl_nodes_free(t->defs[i].body);
    }
    free(t->defs);
    for (size_t i = 0; i < t->nvars; i++)
        free(t->vars[i]);
    free(t->vars);
    free(t->name);
    free(t);
}

int template_compile(template_t **out, const char *text, const template_options_t *opts,
                     vigil_error_t *err)
{
    static const template_options_t defaults = { 0 };
    if (opts == NULL)
        opts = &defaults;
    *out = NULL;
    if (text == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "template text is NULL");
    template_t *t = calloc(1, sizeof(*t));
    if (t == NULL || (t->name = strdup(opts->name ? opts->name : "template")) == NULL) {
        free(t);
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    }
    t->missing_zero = opts->missing_zero;
    t->lib = opts->lib;
    parser_t p = { .src = text, .len = strlen(text), .name = t->name, .t = t, .err = err,
                   .lc_line = 1, .lc_col = 1 };
    term_t term = TERM_EOF;
    bool trim = false;
    int rc = var_push(&p, "", 0);  /* $ */
    for (size_t i = 0; rc == 0 && opts->vars != NULL && opts->vars[i] != NULL; i++) {
        char **v = realloc(t->vars, (t->nvars + 1) * sizeof(*v));
        if (v == NULL || (v[t->nvars] = strdup(opts->vars[i])) == NULL) {
            if (v != NULL)
                t->vars = v;
            rc = fail(&p, 0, VIGIL_ENOMEM, "out of memory");
            break;
        }
        t->vars = v;
        t->nvars++;
        rc = var_push(&p, opts->vars[i], strlen(opts->vars[i]));
    }
    if (rc == 0)
        rc = parse_list(&p, &t->root, &term, &trim);
    if (rc == 0 && term != TERM_EOF)
        rc = fail(&p, p.pos, VIGIL_EPARSE, "unexpected {{%s}}",
                  term == TERM_END ? "end" : "else");
    for (size_t i = 0; rc == 0 && i < p.ncalls; i++)
        if (tmpl_find_define(t, p.calls[i].name) == NULL)
            rc = fail(&p, p.calls[i].pos, VIGIL_EPARSE, "no such template \"%s\"",
                      p.calls[i].name);
    for (size_t i = 0; i < p.ncalls; i++)
        free(p.calls[i].name);
    free(p.calls);
    var_pop_to(&p, 0);
    free(p.vars);
    if (rc != 0) {
        template_free(t);
        return rc;
    }
    *out = t;
    return 0;
}
