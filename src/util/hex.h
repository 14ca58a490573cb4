/*
 * hex.h - the value of one hexadecimal digit, for the parsers that read them: percent-escapes
 * (http/params.c), chunk sizes (http/wire.c) and PromQL string escapes (promql/lexer.c).
 */
#ifndef VIGIL_UTIL_HEX_H
#define VIGIL_UTIL_HEX_H

/* 0-15 for '0'-'9', 'a'-'f', 'A'-'F'; -1 for any other byte (or EOF). */
static inline int hex_digit_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif /* VIGIL_UTIL_HEX_H */
