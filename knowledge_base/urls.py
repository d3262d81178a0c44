app_name = "knowledge_base"
urlpatterns = []
