"""The console's two languages: Chinese (the default) and English.

Templates write English text as ``{{ _("Orders") }}``; :data:`ZH` holds its Chinese. A text without
a Chinese entry shows in English (tests/unit/test_console_format.py checks that every text the
templates use has one).
"""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

ZH: dict[str, str] = {
    # navigation and frame
    "Operator console": "运营控制台",
    "Skip to content": "跳到正文",
    "Orders": "订单",
    "Needs review": "待复核",
    "Refunds": "退款",
    "Notifications": "通知",
    "Reconciliation": "对账",
    "Products": "商品",
    "Health": "运行状况",
    "Sign out": "退出登录",
    "Sign in": "登录",
    "Language": "语言",
    "Times in": "时间显示时区",
    "Role": "角色",
    "viewer": "只读",
    "support": "客服",
    "finance": "财务",
    "owner": "所有者",
    # login
    "Email": "邮箱",
    "Password": "密码",
    "Sign in to the silverpay console": "登录 silverpay 运营控制台",
    "You have been signed out.": "您已退出登录。",
    "Your session has ended; please sign in again.": "会话已结束，请重新登录。",
    # orders
    "Search": "搜索",
    "out_trade_no, transaction_id, openid or user id": "商户订单号、微信支付单号、openid 或用户 ID",
    "Status": "状态",
    "Any": "全部",
    "From": "起始日期",
    "To": "截止日期",
    "Min ¥": "最低金额 ¥",
    "Max ¥": "最高金额 ¥",
    "Only needing review": "仅看待复核",
    "Filter": "筛选",
    "Reset": "重置",
    "Order": "订单",
    "Amount": "金额",
    "Created": "创建时间",
    "Paid": "支付时间",
    "User": "用户",
    "Product": "商品",
    "Review": "复核",
    "No orders match.": "没有符合条件的订单。",
    "orders": "笔订单",
    "Total": "合计",
    "Refunded": "已退款",
    "Previous": "上一页",
    "Next": "下一页",
    "Page": "页码",
    # order page
    "Order details": "订单详情",
    "Transaction id": "微信支付单号",
    "Quantity": "数量",
    "Description": "描述",
    "Expires": "过期时间",
    "Closed": "关闭时间",
    "Refundable": "可退金额",
    "Flagged for review": "已标记待复核",
    "Actions": "操作",
    "Re-query WeChat now": "立即向微信查询",
    "Close the order": "关闭订单",
    "Refund": "退款",
    "Amount (¥)": "金额（¥）",
    "Reason": "原因",
    "required": "必填",
    "Refund this amount": "退还此金额",
    "Re-send / ask WeChat": "重新发送 / 向微信查询",
    "Mark resolved": "标记为已解决",
    "Note": "备注",
    "Timeline": "时间线",
    "When": "时间",
    "What": "事件",
    "Details": "详情",
    "Rejected notifications claiming this order": "声称属于此订单的被拒通知",
    "Your role does not allow this action.": "您的角色无权执行此操作。",
    "requires the role": "需要角色",
    "No action is possible in this state.": "当前状态下无可执行的操作。",
    "Done.": "已完成。",
    "Back": "返回",
    "Error": "错误",
    "verified": "已验证",
    "not verified": "未验证",
    # lists
    "Flagged": "标记时间",
    "Nothing needs review.": "没有待复核的订单。",
    "Refund no.": "退款单号",
    "Processing for more than a day": "处理中已超过一天",
    "No refunds match.": "没有符合条件的退款。",
    "Rejected notifications": "被拒绝的通知",
    "Endpoint": "接口",
    "Code": "代码",
    "Count": "次数",
    "First": "首次",
    "Last": "最近",
    "Sample reason": "原因示例",
    "By reason": "按原因",
    "Over time": "按时间",
    "No rejected notifications.": "没有被拒绝的通知。",
    "Runs": "对账记录",
    "Bill date": "账单日期",
    "Bill rows": "账单行数",
    "Discrepancies": "差异",
    "Unresolved": "未解决",
    "Started": "开始时间",
    "Finished": "结束时间",
    "Re-run a day": "重新对账某一天",
    "Run": "执行",
    "Kind": "类型",
    "WeChat": "微信",
    "Here": "本地",
    "Resolved": "已解决",
    "yes": "是",
    "no": "否",
    "No reconciliation yet.": "尚无对账记录。",
    "Name": "名称",
    "Price (¥)": "价格（¥）",
    "Active": "上架",
    "Save": "保存",
    "Deactivate": "下架",
    "Activate": "上架",
    "Add a product": "新增商品",
    "Create": "创建",
    "Database": "数据库",
    "Worker heartbeat": "后台任务心跳",
    "Sweeper backlog": "待查询的支付中订单",
    "Last successful reconciliation": "最近一次成功对账",
    "Platform key expiry": "平台证书/公钥到期",
    "WeChat API error rate (last hour)": "微信接口错误率（近一小时）",
    "ok": "正常",
    "Check": "检查项",
    "Value": "值",
}


def translator(language: str) -> Callable[[str], str]:
    if language == "zh":
        return lambda text: ZH.get(text, text)
    return lambda text: text


def choose(cookie: str | None) -> str:
    """The language the operator chose (a cookie), Chinese until they choose."""
    return cookie if cookie in LANGUAGES else DEFAULT_LANGUAGE
