// content_by_lua_block { ngx.say('{"version":"0.0.1"}') }: a string goes out with the
// location's defaultType (application/json here); ngx.say ends with a newline, so does this.
export default () => '{"version":"0.0.1"}\n';
