// Keep a chosen avatar beyond this phone: wx.uploadFile the temporary file to storage of yours that
// answers {"url": "https://…"}. Unlike wx.request, uploadFile hands back the body as a string and
// calls `success` for every HTTP status, so both are checked here: a 502 page or a body that is not
// the expected JSON rejects, instead of throwing inside the callback and leaving sign-in spinning.

/** Resolves the uploaded file's https URL, or undefined when there is nothing to upload. */
export function uploadAvatar(wx, uploadUrl, tempPath, { timeoutMs = 30000 } = {}) {
  if (!tempPath || !uploadUrl) return Promise.resolve(undefined)
  return new Promise((resolve, reject) => {
    wx.uploadFile({
      url: uploadUrl,
      filePath: tempPath,
      name: 'avatar',
      timeout: timeoutMs,
      success: (res) => {
        try {
          resolve(avatarUrlFrom(res))
        } catch (error) {
          reject(error)
        }
      },
      fail: (failure) => reject(new Error(`avatar upload failed: ${(failure && failure.errMsg) || failure}`)),
    })
  })
}

function avatarUrlFrom({ statusCode, data }) {
  if (!(statusCode >= 200 && statusCode < 300)) throw new Error(`avatar upload answered HTTP ${statusCode}`)
  let body
  try {
    body = typeof data === 'string' ? JSON.parse(data) : data
  } catch {
    throw new Error(`avatar upload answered something that is not JSON: ${String(data).slice(0, 80)}`)
  }
  if (!body || typeof body.url !== 'string' || !/^https:\/\//.test(body.url)) {
    throw new Error('avatar upload answered no https "url"')
  }
  return body.url
}
