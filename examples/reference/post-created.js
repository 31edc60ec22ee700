// header_filter_by_lua_block: the upstream's 200 to a POST becomes 201.
export default (ctx) => {
  if (ctx.request.method === "POST" && ctx.response.status === 200) ctx.response.status = 201;
};
