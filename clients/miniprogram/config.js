// The one place to point the sample at your silverpay deployment.

// Your silverpay service: https only, and its domain must be on the mini-program's
// "request 合法域名" list in the WeChat console (see README.md).
export const API_BASE = 'https://pay.example.com'

// Optional. `open-type="chooseAvatar"` gives a temporary local file that only this phone can read;
// to keep the avatar, upload it (wx.uploadFile) to storage of yours that answers {"url": "https://…"}
// and silverpay stores that URL. Leave empty to show the avatar on the phone only.
// The upload domain must be on the "uploadFile 合法域名" list.
export const AVATAR_UPLOAD_URL = ''
