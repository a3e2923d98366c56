/* A minimal stand-alone interpreter: lua-src ships Lua's library without lua.c. */
#include <stdio.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

int main(int argc, char **argv)
{
    const char *code = (argc > 2 && strcmp(argv[1], "-e") == 0) ? argv[2] : "print(_VERSION)";
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    int status = luaL_dostring(L, code);
    if (status != LUA_OK)
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
    lua_close(L);
    return status == LUA_OK ? 0 : 1;
}
