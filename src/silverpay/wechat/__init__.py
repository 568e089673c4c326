"""Everything that knows WeChat's wire formats. Callers above this package never see XML."""
