-- wrk script: POST the course's application to /classify.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"seniority": 3, "home": "owner", "time": 36, "age": 26, "marital": "single", "records": "no", "job": "freelance", "expenses": 35, "income": 0.0, "assets": 60000.0, "debt": 3000.0, "amount": 800, "price": 1000}'
