-- Visma signature check for nginx (access phase), the way one would write it with what
-- Debian's nginx offers: base64(HMAC-SHA256(secret, raw body)) compared with the
-- x-vwd-signature-v1 header; 401 on mismatch. HMAC comes from the libcrypto that nginx is
-- linked with, called through LuaJIT's FFI (no extra Lua library needed).
-- Rendered by compare.sh, which puts the bench's secret in place of the SECRET placeholder.
local ffi = require "ffi"
local C = ffi.C

ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
]]

local SECRET = "@SECRET@"
local SHA256 = C.EVP_sha256()
-- A worker runs one Lua handler at a time, so these buffers are safely reused.
local md = ffi.new("unsigned char[32]")
local md_len = ffi.new("unsigned int[1]")

local _M = {}

local function read_body()
    ngx.req.read_body()
    local body = ngx.req.get_body_data()
    if body then
        return body
    end
    -- Only when a body outgrew client_body_buffer_size and was spooled to disk.
    local path = ngx.req.get_body_file()
    if not path then
        return ""
    end
    local file = io.open(path, "rb")
    if not file then
        return nil
    end
    body = file:read("*a")
    file:close()
    return body
end

function _M.check()
    local offered = ngx.var.http_x_vwd_signature_v1
    if not offered then
        return ngx.exit(ngx.HTTP_UNAUTHORIZED)
    end
    local body = read_body()
    if not body then
        return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
    end
    if C.HMAC(SHA256, SECRET, #SECRET, body, #body, md, md_len) == nil then
        return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
    end
    -- Plain string comparison (not constant time), as most hand-written checks do; for 44
    -- bytes the cost difference is negligible.
    if ngx.encode_base64(ffi.string(md, md_len[0])) ~= offered then
        return ngx.exit(ngx.HTTP_UNAUTHORIZED)
    end
end

return _M
