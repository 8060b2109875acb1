import { beforeEach, describe, expect, it } from "vitest";
import { Api } from "../../src/api";
import { rememberReference } from "../../src/findings/reference";
import { fetchWorklist } from "../../src/worklist/model";

describe("the worklist and the reader's Reference choice", () => {
  let urls: string[];
  let api: Api;

  beforeEach(() => {
    localStorage.clear();
    urls = [];
    const fetchImpl = async (input: RequestInfo | URL) => {
      urls.push(String(input));
      return new Response(JSON.stringify({ count: 0, next: null, previous: null, results: [] }), { status: 200 });
    };
    api = new Api("/api/", "token", fetchImpl as typeof fetch);
  });

  it("asks for the list without the reference once the reader hid it for the project", async () => {
    await fetchWorklist(api, { project: 3, filters: {}, page: 1 });
    rememberReference(3, false);
    await fetchWorklist(api, { project: 3, filters: {}, page: 1 });
    await fetchWorklist(api, { project: 4, filters: {}, page: 1 });
    rememberReference(3, true);
    await fetchWorklist(api, { project: 3, filters: {}, page: 1 });
    expect(urls.map((u) => new URL(u, "http://x").searchParams.get("reference"))).toEqual([null, "hide", null, null]);
  });
});
